// CanvasChart's front end: lightweight-charts on a canvas, fed by the updates of deltas.js (concatenated in front of
// this file, after the vendored library, by breakout_kit/notebook/canvas.py).
const LWC = globalThis.LightweightCharts;
// Chart data travels in batch messages (one comm message for every chart redrawn in the same loop turn) and is
// kept per chart key here, so a view can draw whatever arrived before it was rendered.
const REGISTRY = (globalThis.__bkCanvas = globalThis.__bkCanvas || new Map());
const entry = (key) => {
  let e = REGISTRY.get(key);
  if (!e) { e = { state: emptyState(), received: 0, asked: false, views: new Set() }; REGISTRY.set(key, e); }
  return e;
};
// Acknowledgements of drawn updates, collected over one frame and sent to the kernel in one message.
const ACKS = (globalThis.__bkAcks = globalThis.__bkAcks || { items: [], model: null, timer: null });
function ack(model, key, seq) {
  ACKS.items.push([key, seq]);
  ACKS.model = model;
  if (ACKS.timer !== null) return;
  ACKS.timer = setTimeout(() => {
    const items = ACKS.items;
    ACKS.items = []; ACKS.timer = null;
    try { ACKS.model.send({ type: "bk-ack", acks: items }); } catch (err) { /* model closed: the kernel resends */ }
  }, 0);
}

function initialize({ model }) {
  const onBatch = (msg, buffers) => {
    if (!msg || msg.type !== "bk-batch") return;
    const received = Date.now();
    const lost = [];
    msg.items.forEach((item, i) => {
      const e = entry(item.key);
      if (item.type === "bk-full") e.asked = false;
      if (!apply(e.state, item, buffers[i])) {
        if (!e.asked) { e.asked = true; lost.push(item.key); }
        return;
      }
      e.received = received;
      e.views.forEach((schedule) => schedule());
    });
    // An update that does not fit what this page holds (one was lost): ask for those windows again.
    if (lost.length) { try { model.send({ type: "bk-hello", keys: lost }); } catch (err) { /* closed */ } }
  };
  model.on("msg:custom", onBatch);
  const key = model.get("key");
  return () => { model.off("msg:custom", onBatch); REGISTRY.delete(key); };
}

function render({ model, el }) {
  // Draw into our own box: ipywidgets' layout code owns el.style and resets height/width set on el itself
  // (inside a GridBox the chart then collapsed to a 30 px strip).
  const box = document.createElement("div");
  box.className = "bk-canvas";
  box.style.height = model.get("height") + "px";
  box.style.width = model.get("width") > 0 ? model.get("width") + "px" : "100%";
  box.style.minWidth = "0";
  box.style.position = "relative";
  el.appendChild(box);
  const title = document.createElement("div");
  title.className = "bk-title";
  title.style.cssText = "position:absolute;left:6px;top:2px;z-index:3;font:12px sans-serif;color:#333";
  const note = document.createElement("span");
  note.className = "bk-note";
  note.style.cssText = "margin-left:6px;color:#c62828;font-weight:bold";
  title.append(model.get("title"), note);
  box.appendChild(title);
  const chart = LWC.createChart(box, {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#333", fontSize: 11,
              attributionLogo: model.get("attribution") },
    grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
    // Bars sit side by side by index: nights and weekends take no room on this time scale.
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 2, minBarSpacing: 0.5 },
    rightPriceScale: { scaleMargins: { top: 0.12, bottom: model.get("show_volume") ? 0.25 : 0.05 } },
    // An empty left scale as a gutter: the time label of the first tick is centred on it and was cut in half
    // at the canvas edge ("4:45" for 14:45).
    leftPriceScale: { visible: true, borderVisible: false, minimumWidth: 18, ticksVisible: false },
  });
  const candles = chart.addCandlestickSeries({ upColor: "#26a69a", downColor: "#ef5350",
    wickUpColor: "#26a69a", wickDownColor: "#ef5350", borderVisible: false });
  const line = (color) => chart.addLineSeries({ color, lineWidth: 1, lineType: 1,
    priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false });
  const upper = line("#1e88e5");
  const lower = line("#fb8c00");
  let volume = null;
  if (model.get("show_volume")) {
    volume = chart.addHistogramSeries({ color: "#90a4ae", priceScaleId: "vol", priceLineVisible: false,
      lastValueVisible: false, priceFormat: { type: "custom", minMove: 1,
        formatter: (v) => Math.round(v).toLocaleString("en-US") } });  // whole shares, never "120100.0"
    chart.priceScale("vol").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  }
  const key = model.get("key");
  const mine = entry(key);
  // What this view shows: the last bar time, how many bars the chart holds, the reset epoch and the markers.
  let shownLast = null, held = 0, shownReset = -1, shownMarkers = "";

  function draw() {
    const data = mine.state;
    if (data.seq === null) return;
    const seq = data.seq;
    const started = performance.now();
    const cols = data.cols;
    const n = cols.t.length;
    const t = cols.t.map((ms) => ms / 1000);  // lightweight-charts times are seconds
    const [o, h, l, c, v, up, lo] = [cols.o, cols.h, cols.l, cols.c, cols.v, cols.up, cols.lo];
    const point = (i, arr) => Number.isNaN(arr[i]) ? { time: t[i] } : { time: t[i], value: arr[i] };
    // Only the bars after the last one shown (and that one, it may have been revised) when the window just moved
    // on; the whole window after a full update, or when the chart would hold more than twice the window.
    let k = 0;
    if (shownLast !== null && data.fulls === shownReset && n > 0) {
      while (k < n && t[k] < shownLast) k++;
    }
    const incremental = shownLast !== null && data.fulls === shownReset && k < n && t[k] >= shownLast
      && (k > 0 || t[0] === shownLast) && held + (n - k) <= 2 * Math.max(n, 1);
    if (incremental) {
      for (let i = k; i < n; i++) {
        candles.update({ time: t[i], open: o[i], high: h[i], low: l[i], close: c[i] });
        upper.update(point(i, up));
        lower.update(point(i, lo));
        if (volume) volume.update({ time: t[i], value: v[i] });
        if (t[i] > shownLast) held++;
        shownLast = t[i];
      }
    } else if (!(shownLast !== null && data.fulls === shownReset && n > 0 && t[n - 1] === shownLast && k === n)) {
      const cs = new Array(n), us = new Array(n), ls = new Array(n), vs = volume ? new Array(n) : null;
      for (let i = 0; i < n; i++) {
        cs[i] = { time: t[i], open: o[i], high: h[i], low: l[i], close: c[i] };
        us[i] = point(i, up);
        ls[i] = point(i, lo);
        if (vs) vs[i] = { time: t[i], value: v[i] };
      }
      candles.setData(cs); upper.setData(us); lower.setData(ls);
      if (volume) volume.setData(vs);
      shownLast = n ? t[n - 1] : null; held = n; shownReset = data.fulls;
    }
    const markers = data.markers.length + ":" + (data.markers.length ? data.markers[0][0] : "");
    if (markers !== shownMarkers) {
      candles.setMarkers(data.markers.map(([time, _price, up]) => up
        ? { time: time / 1000, position: "belowBar", color: "#2e7d32", shape: "arrowUp" }
        : { time: time / 1000, position: "aboveBar", color: "#c62828", shape: "arrowDown" }));
      shownMarkers = markers;
    }
    note.textContent = data.note || "";
    box.style.opacity = data.stopped ? "0.55" : "1";
    box.dataset.stopped = data.stopped ? "1" : "0";
    if (model.get("follow")) chart.timeScale().scrollToRealTime();
    box.dataset.bars = String(n);
    box.dataset.last = n ? String(t[n - 1]) : "";
    const drawn = performance.now() - started;
    // The frame with this data is painted by the next animation frame: acknowledge then (backpressure), and
    // record it for the browser benchmark.
    requestAnimationFrame(() => {
      if (!alive) return;
      ack(model, key, seq);
      const log = (globalThis.__bkCanvasDraws = globalThis.__bkCanvasDraws || []);
      log.push({ at: Date.now(), recv: mine.received, ms: drawn, n, key, symbol: model.get("title"),
                 last: n ? t[n - 1] : null });
      if (log.length > 5000) log.splice(0, log.length - 2500);
    });
  }
  // Draw at most once per frame, with the latest data; never after the view is gone (a Stop/Start removes a tile
  // while a frame may still be scheduled: drawing on the removed chart throws "Object is disposed").
  let pending = false;
  let alive = true;
  const schedule = () => {
    if (pending || !alive) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; if (alive) draw(); });
  };
  mine.views.add(schedule);
  if (mine.state.seq !== null) draw();
  else model.send({ type: "bk-hello" });  // e.g. after a page reload: ask the kernel for the current window
  return () => { alive = false; mine.views.delete(schedule); chart.remove(); box.remove(); };
}

export default { initialize, render };
