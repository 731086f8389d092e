// What the Plotly library widget (plotly-loader.js) and the chart views (livechart.js) share in the page: each is
// an ES module of its own, so breakout_kit/notebook/plotly_view.py puts this file in front of both. The state lives
// on globalThis: one per page, whichever module got there first.

// plotly.js for every chart: plotly-loader.js settles it, the views wait on it.
function plotlyPromise() {
  const g = globalThis;
  if (!g.__bkPlotly) {
    let resolve, reject;
    g.__bkPlotly = new Promise((res, rej) => { resolve = res; reject = rej; });
    g.__bkPlotly.settle = { resolve, reject };
  }
  return g.__bkPlotly;
}

// Marks on the page's performance timeline (the browser benchmark reads them), each once per page.
function markOnce(name) {
  if (typeof performance === "undefined" || !performance.mark) return;
  if (!performance.getEntriesByName(name, "mark").length) performance.mark(name);
}

// Charts whose widget the page is creating: chart key -> until when (performance.now()). The kernel announces each
// new chart through the bus ("bk-opening", plotly-loader.js) just before it opens the chart's widget; the widget's
// initialize (livechart.js) ends the wait. anywidget gives a new widget 2 s from its creation to import its module,
// and that import waits for the page's main thread: behind one frame redrawing 18 charts (2.3-3.5 s at load) it
// failed ("[anywidget] Failed to initialize model.", an uncaught error in the page). While a widget is opening, the
// views redraw a few charts per frame (livechart.js), and the import runs between frames.
const OPENING_WAIT_MS = 3000;  // past anywidget's 2 s the import has failed or is done: waiting longer helps nothing
function openingCharts() {
  return (globalThis.__bkPlotlyOpening = globalThis.__bkPlotlyOpening || new Map());
}
function announced(key) { openingCharts().set(key, performance.now() + OPENING_WAIT_MS); }
function opened(key) { openingCharts().delete(key); }
function opening() {
  const pending = openingCharts();
  if (!pending.size) return false;
  const now = performance.now();
  pending.forEach((until, key) => { if (until < now) pending.delete(key); });
  return pending.size > 0;
}
