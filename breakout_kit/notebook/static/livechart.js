// LiveChart's front end: one Plotly chart per view, fed by the updates of deltas.js (concatenated in front of this
// file by breakout_kit/notebook/plotly_view.py, after plotly-page.js). plotly.js comes from plotly-loader.js, once
// per page.

// Acknowledgements of all views, collected over one frame and sent as one message per library (kernel).
function ackLater(libraryKey, key, seq) {
  const g = globalThis;
  const acks = (g.__bkPlotlyAcks = g.__bkPlotlyAcks || { items: [], timer: null });
  acks.items.push([libraryKey, key, seq]);
  if (acks.timer !== null) return;
  acks.timer = setTimeout(() => {
    const items = acks.items;
    acks.items = []; acks.timer = null;
    const byBus = new Map();
    items.forEach(([lib, k, s]) => { if (!byBus.has(lib)) byBus.set(lib, []); byBus.get(lib).push([k, s]); });
    byBus.forEach((list, lib) => {
      const bus = g.__bkPlotlyBus && g.__bkPlotlyBus.get(lib);
      try { if (bus) bus.send({ type: "bk-ack", acks: list }); } catch (err) { /* closed: the kernel resends */ }
    });
  }, 0);
}

// First plots go through one queue for the page: a few charts per frame (about 30 ms of drawing), oldest first.
// Twenty charts that get their window at once then appear one after the other instead of all together after a
// second. Later draws run in the next frame, all together: one long frame draws 20 charts faster than 20 frames
// (each frame costs the page a paint: 20 draws in 10 frames doubled the redraw time at load 5) -- except while
// another chart's widget is being created (opening(), plotly-page.js): then they go through the queue too.
const FRAME_BUDGET_MS = 30;
function drawQueue() {
  const g = globalThis;
  return (g.__bkPlotlyQueue = g.__bkPlotlyQueue || { jobs: new Set(), running: false });
}
function enqueue(job) {
  const q = drawQueue();
  q.jobs.add(job);
  if (!q.running) { q.running = true; requestAnimationFrame(pump); }
}
async function pump() {
  const q = drawQueue();
  const started = performance.now();
  for (const job of q.jobs) {
    q.jobs.delete(job);
    try { await job(); } catch (err) { console.warn("breakout_kit LiveChart:", err); }
    if (performance.now() - started > FRAME_BUDGET_MS) break;
  }
  if (q.jobs.size) requestAnimationFrame(pump); else q.running = false;
}

// Rangebreaks for the pauses between sessions: gaps over 4x the usual bar spacing (times in ms).
export function sessionBreaks(t) {
  if (t.length < 3) return [];
  const steps = [];
  for (let i = 1; i < t.length; i++) steps.push(t[i] - t[i - 1]);
  const sorted = steps.slice().sort((a, b) => a - b);
  const spacing = sorted[Math.floor(sorted.length / 2)];
  if (!(spacing > 0)) return [];
  const out = [];
  steps.forEach((s, i) => { if (s > 4 * spacing) out.push({ bounds: [t[i] + spacing, t[i + 1]] }); });
  return out;
}

function render({ model, el }) {
  markOnce("bk:first-view");
  const spec = model.get("spec");
  const useBreaks = model.get("breaks");
  const gd = document.createElement("div");
  gd.className = "bk-plotly";
  // Plotly reads the element's size on every draw (a forced layout): a box with its own size and layout
  // containment keeps that to this chart, not the whole JupyterLab page.
  const box = document.createElement("div");
  box.style.cssText = `contain: strict; width: 100%; height: ${spec.layout.height}px; overflow: hidden`;
  if (spec.layout.width) box.style.width = `${spec.layout.width}px`;
  box.appendChild(gd);
  el.appendChild(box);
  const state = emptyState();
  const traces = spec.data.map((t) => ({ ...t }));
  const layout = JSON.parse(JSON.stringify(spec.layout));
  const xaxes = Object.keys(layout).filter((k) => /^xaxis\d*$/.test(k));
  const baseTitle = (layout.title && layout.title.text) || "";
  let shownBreaks = "[]";
  let Plotly = null;
  let alive = true;
  let asked = false;  // a hello is out: wait for the window instead of asking again
  let drawing = false;
  let pending = false;
  let plotted = false;

  const send = (msg) => { try { model.send(msg); } catch (err) { /* closed model: the kernel resends */ } };
  const hello = () => { if (!asked) { asked = true; send({ type: "bk-hello" }); } };

  function fill() {
    const c = state.cols;
    Object.assign(traces[0], { x: c.t, open: c.o, high: c.h, low: c.l, close: c.c });
    Object.assign(traces[1], { x: c.t, y: c.up });
    Object.assign(traces[2], { x: c.t, y: c.lo });
    const up = state.markers.filter((m) => m[2]);
    const down = state.markers.filter((m) => !m[2]);
    Object.assign(traces[3], { x: up.map((m) => m[0]), y: up.map((m) => m[1]) });
    Object.assign(traces[4], { x: down.map((m) => m[0]), y: down.map((m) => m[1]) });
    if (traces.length > 5) Object.assign(traces[5], { x: c.t, y: c.v });
    if (useBreaks) {
      const breaks = sessionBreaks(c.t);
      const key = JSON.stringify(breaks);
      if (key !== shownBreaks) {
        xaxes.forEach((ax) => { layout[ax] = { ...layout[ax], rangebreaks: breaks }; });
        shownBreaks = key;
      }
    }
    const note = state.note;  // "■ stopped", "⚠ view is N s behind" (the kernel words it)
    layout.title = { ...layout.title, text: note ? `${baseTitle} \u00b7 ${note}` : baseTitle,
                     font: { ...(layout.title && layout.title.font), color: note ? "#c62828" : undefined } };
    layout.datarevision = state.seq;
  }

  async function draw() {
    pending = false;
    if (!alive || !Plotly || state.seq === null) return;  // nothing to show yet: no empty plot
    drawing = true;
    const seq = state.seq;
    const started = performance.now();
    try {
      fill();
      if (plotted) await Plotly.react(gd, traces, layout);
      else {
        markOnce("bk:first-plot-start");
        if (!state.cols.t.length) markOnce("bk:first-empty-plot-start");
        await Plotly.newPlot(gd, traces, layout, { displaylogo: false, responsive: false });
        markOnce("bk:first-plot-end");
      }
      plotted = true;
    } catch (err) {
      drawing = false;
      console.warn("breakout_kit LiveChart: draw failed", err);
      return;
    }
    const ms = performance.now() - started;
    const n = state.cols.t.length;
    if (n) markOnce("bk:first-candles-drawn");
    gd.dataset.bars = String(n);
    gd.dataset.last = n ? String(state.cols.t[n - 1] / 1000) : "";
    gd.dataset.symbol = model.get("symbol");
    gd.dataset.stopped = state.stopped ? "1" : "0";
    requestAnimationFrame(() => {
      drawing = false;
      if (!alive) return;
      ackLater(model.get("library_key"), model.get("key"), seq);
      const log = (globalThis.__bkPlotlyDraws = globalThis.__bkPlotlyDraws || []);
      log.push({ at: Date.now(), ms, n, symbol: model.get("symbol"), last: n ? state.cols.t[n - 1] / 1000 : null });
      if (log.length > 5000) log.splice(0, log.length - 2500);
      if (state.seq !== seq) schedule();
    });
  }

  function schedule() {
    if (pending || drawing) return;
    pending = true;
    if (plotted) requestAnimationFrame(redraw); else enqueue(draw);
  }
  function redraw() {
    if (opening()) enqueue(draw); else draw();
  }

  // Updates come through the library's bus (plotly-loader.js), keyed by this chart's key.
  const onItem = (msg, buffer) => {
    if (msg.type === "bk-full") {
      asked = false;
      markOnce("bk:first-window");
      if (msg.n) markOnce("bk:first-window-with-bars");
    }
    if (apply(state, msg, buffer)) schedule();
    else hello();
  };
  const views = (globalThis.__bkPlotlyViews = globalThis.__bkPlotlyViews || new Map());
  const key = model.get("key");
  if (!views.has(key)) views.set(key, new Set());
  views.get(key).add(onItem);

  // A fixed width instead of Plotly's autosize (which measures the container on every draw); a ResizeObserver
  // follows the container.
  const autosize = !spec.layout.width;
  const fit = () => {
    const width = Math.floor(box.clientWidth);
    if (!autosize || width <= 0 || width === layout.width) return false;
    layout.width = width;
    layout.autosize = false;
    return true;
  };
  const resize = new ResizeObserver(() => { if (fit() && Plotly) schedule(); });
  hello();  // ask for the window at once: it arrives while plotly.js is still loading
  plotlyPromise().then((P) => {
    if (!alive) return;
    Plotly = P;
    fit();
    resize.observe(box);
    schedule();
  }).catch((err) => console.warn("breakout_kit LiveChart:", err));

  return () => {
    alive = false;
    drawQueue().jobs.delete(draw);
    resize.disconnect();
    const mine = views.get(key);
    if (mine) { mine.delete(onItem); if (!mine.size) views.delete(key); }
    if (Plotly) Plotly.purge(gd);
    box.remove();
  };
}

// Runs once the module is imported, just before anywidget reports the widget ready: this chart no longer waits.
function initialize({ model }) {
  opened(model.get("key"));
}

export default { initialize, render };
