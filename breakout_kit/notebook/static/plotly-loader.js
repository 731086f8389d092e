// The page side of PlotlyLibrary (breakout_kit/notebook/plotly_view.py), one per kernel:
// - loads plotly.js once for every LiveChart (the library travels once, in this widget's `_source`, not once per
//   chart); it runs as a classic script (it sets window.Plotly); charts wait on globalThis.__bkPlotly;
// - is the bus of the LiveCharts: the kernel sends the updates of all charts made in one loop turn as one
//   "bk-batch" message here, dispatched to the views by chart key; the views' acknowledgements go back the same
//   way, collected over a frame into one "bk-ack" message. A "bk-opening" message announces a chart's widget
//   before the kernel opens it (the views keep their frames short meanwhile: opening() in plotly-page.js).
// plotly_view.py puts plotly-page.js (what this module shares with the views) in front of this file.

// The first plot in a page costs plotly 0.1-0.2 s more than any later one (its styles, text measuring, the date
// axis machinery). When plotly.js arrives before any chart is on the page (it is sent when the charts are imported),
// pay that on a hidden plot then, not in the first chart's draw.
function warmUp(Plotly) {
  const views = globalThis.__bkPlotlyViews;
  if ((views && views.size) || typeof document === "undefined" || !document.body) return;
  const box = document.createElement("div");
  box.style.cssText = "position: fixed; left: -10000px; top: 0; width: 300px; height: 150px; visibility: hidden";
  document.body.appendChild(box);
  const t = Date.UTC(2026, 0, 5, 14, 30);
  const traces = [{ type: "candlestick", x: [t, t + 60e3], open: [1, 2], high: [2, 3], low: [0, 1], close: [2, 1] },
                  { type: "scatter", mode: "lines", x: [t, t + 60e3], y: [1, 2] }];
  const layout = { width: 300, height: 150, xaxis: { type: "date", rangeslider: { visible: false } } };
  const done = () => { try { Plotly.purge(box); } catch (err) { /* nothing to clean */ } box.remove(); markOnce("bk:plotly-warm"); };
  try {
    Promise.resolve(Plotly.newPlot(box, traces, layout, { displaylogo: false, responsive: false })).then(done, done);
  } catch (err) {
    done();
  }
}

function load(model) {
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
  const asked = Date.now();
  markOnce("bk:plotly-js-asked");
  script.onload = () => {
    URL.revokeObjectURL(url);
    markOnce("bk:plotly-js-loaded");
    g.__bkPlotlyLoad = { asked, loaded: Date.now() };  // for the browser benchmark
    warmUp(g.Plotly);
    ready.settle.resolve(g.Plotly);
  };
  script.onerror = () => { g.__bkPlotlyLoading = false; ready.settle.reject(new Error("plotly.js did not load")); };
  document.head.appendChild(script);
}

function initialize({ model }) {
  const g = globalThis;
  const views = (g.__bkPlotlyViews = g.__bkPlotlyViews || new Map());  // chart key -> Set of view handlers
  const buses = (g.__bkPlotlyBus = g.__bkPlotlyBus || new Map());       // library key -> this model
  const key = model.get("key");
  markOnce("bk:library-open");
  buses.set(key, model);
  const onBatch = (msg, buffers) => {
    if (msg && msg.type === "bk-opening") { announced(msg.key); return; }  // a chart's widget comes next
    if (!msg || msg.type !== "bk-batch") return;
    msg.items.forEach((item, i) => {
      const handlers = views.get(item.key);
      if (handlers) handlers.forEach((handle) => handle(item, buffers[i]));
    });
  };
  model.on("msg:custom", onBatch);
  load(model);
  return () => { model.off("msg:custom", onBatch); if (buses.get(key) === model) buses.delete(key); };
}

export default { initialize };
