// Loads plotly.js once per page for every LiveChart: the library travels once (this widget's `_source`), not once
// per chart. It runs as a classic script (it sets window.Plotly); charts wait on globalThis.__bkPlotly.
function plotlyPromise() {
  const g = globalThis;
  if (!g.__bkPlotly) {
    let resolve, reject;
    g.__bkPlotly = new Promise((res, rej) => { resolve = res; reject = rej; });
    g.__bkPlotly.settle = { resolve, reject };
  }
  return g.__bkPlotly;
}

function initialize({ model }) {
  const ready = plotlyPromise();
  const g = globalThis;
  if (g.__bkPlotlyLoading) return;
  g.__bkPlotlyLoading = true;
  if (g.Plotly && typeof g.Plotly.react === "function") {
    ready.settle.resolve(g.Plotly);
    return;
  }
  const url = URL.createObjectURL(new Blob([model.get("_source")], { type: "text/javascript" }));
  const script = document.createElement("script");
  script.src = url;
  script.onload = () => { URL.revokeObjectURL(url); ready.settle.resolve(g.Plotly); };
  script.onerror = () => { g.__bkPlotlyLoading = false; ready.settle.reject(new Error("plotly.js did not load")); };
  document.head.appendChild(script);
}

export default { initialize };
