"""CanvasChart: the same live chart as LiveChart, drawn by a small canvas library instead of Plotly.

For dashboards with many charts. Plotly needs ~0.85 s to redraw 20 charts x 500 bars in a browser; the vendored
lightweight-charts (TradingView, Apache-2.0, ``static/``) draws on a canvas and is several times faster. The widget is
an anywidget; each flush sends the window as one binary buffer (8 float64 columns) instead of JSON lists, and the
flushes of all charts in one loop turn share one comm message.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Callable
from importlib import resources

import anywidget
import numpy as np
import traitlets

from breakout_kit.notebook.chart import StreamingChart

_COLUMNS = ("wall", "open", "high", "low", "close", "volume", "upper", "lower")

_RENDER_JS = r"""
const LWC = globalThis.LightweightCharts;
// Chart data travels in batch messages (one comm message for every chart redrawn in the same loop turn) and is
// kept per chart key here, so a view can draw whatever arrived before it was rendered.
const REGISTRY = (globalThis.__bkCanvas = globalThis.__bkCanvas || new Map());
const entry = (key) => {
  let e = REGISTRY.get(key);
  if (!e) { e = { latest: null, views: new Set() }; REGISTRY.set(key, e); }
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
    msg.items.forEach((item, i) => {
      const buf = buffers[i];
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice();
      const e = entry(item.key);
      e.latest = { ...item, values: new Float64Array(bytes.buffer), received };
      e.views.forEach((schedule) => schedule());
    });
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
    const data = mine.latest;
    if (!data) return;
    const started = performance.now();
    const n = data.n;
    const col = (k) => data.values.subarray(k * n, (k + 1) * n);
    const [t, o, h, l, c, v, up, lo] = [0, 1, 2, 3, 4, 5, 6, 7].map(col);
    const point = (i, arr) => Number.isNaN(arr[i]) ? { time: t[i] } : { time: t[i], value: arr[i] };
    // Only the bars after the last one shown (and that one, it may have been revised) when the window just moved
    // on; the whole window after a reset, or when the chart would hold more than twice the window.
    let k = 0;
    if (shownLast !== null && data.reset === shownReset && n > 0) {
      while (k < n && t[k] < shownLast) k++;
    }
    const incremental = shownLast !== null && data.reset === shownReset && k < n && t[k] >= shownLast
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
    } else if (!(shownLast !== null && data.reset === shownReset && n > 0 && t[n - 1] === shownLast && k === n)) {
      const cs = new Array(n), us = new Array(n), ls = new Array(n), vs = volume ? new Array(n) : null;
      for (let i = 0; i < n; i++) {
        cs[i] = { time: t[i], open: o[i], high: h[i], low: l[i], close: c[i] };
        us[i] = point(i, up);
        ls[i] = point(i, lo);
        if (vs) vs[i] = { time: t[i], value: v[i] };
      }
      candles.setData(cs); upper.setData(us); lower.setData(ls);
      if (volume) volume.setData(vs);
      shownLast = n ? t[n - 1] : null; held = n; shownReset = data.reset;
    }
    const markers = JSON.stringify(data.markers);
    if (markers !== shownMarkers) {
      candles.setMarkers(data.markers.map(([time, dir]) => dir === "up"
        ? { time, position: "belowBar", color: "#2e7d32", shape: "arrowUp" }
        : { time, position: "aboveBar", color: "#c62828", shape: "arrowDown" }));
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
      ack(model, key, data.seq);
      const log = (globalThis.__bkCanvasDraws = globalThis.__bkCanvasDraws || []);
      log.push({ at: Date.now(), recv: data.received, ms: drawn, n, key, last: n ? t[n - 1] : null });
      if (log.length > 5000) log.splice(0, log.length - 2500);
    });
  }
  // Draw at most once per frame, with the latest data.
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  };
  mine.views.add(schedule);
  if (mine.latest) draw();
  else model.send({ type: "bk-hello" });  // e.g. after a page reload: ask the kernel for the current window
  return () => { mine.views.delete(schedule); chart.remove(); box.remove(); };
}

export default { initialize, render };
"""


def _esm() -> str:
    lib = resources.files("breakout_kit.notebook").joinpath("static/lightweight-charts.standalone.production.js")
    # The standalone build is a classic script that sets window.LightweightCharts; it runs fine inside the module.
    return lib.read_text(encoding="utf-8") + "\n" + _RENDER_JS


class _Batcher:
    """Sends the redraws of all canvas charts made in one loop turn as ONE comm message.

    Each comm message costs a few ms in the kernel, the Jupyter server and the browser's widget manager; 20 charts
    redrawn with one message each arrived spread over 100-250 ms, with one message they arrive together.
    """

    def __init__(self):
        self.pending: dict[str, CanvasWidget] = {}
        self.scheduled = False

    def add(self, widget: CanvasWidget) -> None:
        self.pending[widget.key] = widget
        if self.scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.send()  # no loop (plain sync use): send at once
            return
        self.scheduled = True
        loop.call_soon(self.send)

    def send(self) -> None:
        self.scheduled = False
        widgets = [w for w in self.pending.values() if w.comm is not None]  # closed widgets have no comm
        self.pending.clear()
        if not widgets:
            return
        items = [{"key": w.key, "n": w.n, "markers": w.markers, "seq": w.seq, "reset": w.reset, "note": w.note,
                  "stopped": w.stopped} for w in widgets]
        widgets[0].send({"type": "bk-batch", "items": items}, buffers=[w.bars for w in widgets])
        for w in widgets:
            w.messages_sent += 1


_batcher = _Batcher()
_by_key: weakref.WeakValueDictionary[str, CanvasWidget] = weakref.WeakValueDictionary()  # routes acks


class CanvasWidget(anywidget.AnyWidget):
    """The front-end half of CanvasChart: a lightweight-charts canvas.

    The data (``n`` bars, the ``bars`` buffer of 8 float64 columns, ``markers``) is plain Python state sent in batch
    messages, not synced traits: one message carries every chart redrawn in the same loop turn.
    """

    _esm = _esm()
    key = traitlets.Unicode("").tag(sync=True)  # identifies this chart's data in batch messages
    title = traitlets.Unicode("").tag(sync=True)
    height = traitlets.Int(300).tag(sync=True)
    width = traitlets.Int(0).tag(sync=True)  # 0: fill the container
    show_volume = traitlets.Bool(True).tag(sync=True)
    follow = traitlets.Bool(True).tag(sync=True)
    attribution = traitlets.Bool(True).tag(sync=True)  # the library's logo; a Dashboard shows it once instead

    def __init__(self, **kwargs):
        super().__init__(key=uuid.uuid4().hex, **kwargs)
        self.n = 0
        self.bars = b""
        self.markers: list = []
        self.seq = 0  # number of the latest window; the front end acknowledges it once drawn
        self.reset = 0  # bumped when the history changed (reload): the view redraws everything
        self.note = ""
        self.stopped = False
        self.messages_sent = 0
        self.on_ack: Callable[[int], None] | None = None
        _by_key[self.key] = self
        self.on_msg(self._on_front_end_msg)

    def set_data(self, n: int, bars: bytes, markers: list, *, seq: int = 0, note: str = "",
                 stopped: bool = False) -> None:
        """Replace the window and queue it for the next batch message."""
        self.n, self.bars, self.markers = n, bars, markers
        self.seq, self.note, self.stopped = seq, note, stopped
        _batcher.add(self)

    def _on_front_end_msg(self, _widget, content, _buffers) -> None:
        # May run on a kernel subshell thread: only hand over (on_ack goes through call_soon_threadsafe).
        if not isinstance(content, dict):
            return
        if content.get("type") == "bk-hello":
            _batcher.add(self)  # a view without data (page reloaded): send the current window
        elif content.get("type") == "bk-ack":
            for key, seq in content.get("acks", ()):
                widget = _by_key.get(key)
                if widget is not None and widget.on_ack is not None and isinstance(seq, int):
                    widget.on_ack(seq)

    def close(self) -> None:
        _by_key.pop(self.key, None)
        _batcher.pending.pop(self.key, None)
        self.on_ack = None
        super().close()


class CanvasChart(StreamingChart):
    """Drop-in alternative to LiveChart drawn with lightweight-charts on a canvas (much faster for many charts).

    Same constructor, ``flush()``, ``close()``, ``n_bars``, ``n_markers`` and ``widget`` as LiveChart.
    """

    def _build(self, title: str, height: int, show_volume: bool, compact: bool) -> None:
        self.canvas = CanvasWidget(title=title, height=height, width=self.width or 0, show_volume=show_volume)
        self.canvas.on_ack = self._ack_from_any_thread
        self._seq = 0

    def reload(self) -> None:
        self.canvas.reset += 1  # the history may differ: the view redraws the whole window
        super().reload()

    def _close_widget(self) -> None:
        self.canvas.close()

    @property
    def widget(self):
        """The ipywidget to place in a layout."""
        return self.canvas

    def _repr_mimebundle_(self, **kwargs):
        return self.canvas._repr_mimebundle_(**kwargs)

    def _draw(self, x: np.ndarray, col: dict, ups: list, downs: list) -> int | None:
        n = len(x)
        block = np.vstack([col[name] for name in _COLUMNS]) if n else np.empty((len(_COLUMNS), 0))
        markers = sorted([[m[1], "up"] for m in ups] + [[m[1], "down"] for m in downs])
        self._seq += 1
        self.canvas.set_data(n, np.ascontiguousarray(block, dtype="<f8").tobytes(), markers, seq=self._seq,
                             note=self._status_note(), stopped=self.stopped)
        return self._seq

    @property
    def n_bars(self) -> int:
        return self.canvas.n

    @property
    def n_markers(self) -> int:
        return len(self.canvas.markers)
