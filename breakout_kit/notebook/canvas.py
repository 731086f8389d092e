"""CanvasChart: the same live chart as LiveChart, drawn by a small canvas library instead of Plotly.

For dashboards with many charts. Plotly needs ~0.85 s to redraw 20 charts x 500 bars in a browser; the vendored
lightweight-charts (TradingView, Apache-2.0, ``static/``) draws on a canvas and is several times faster. The widget is
an anywidget; each flush sends the window as one binary buffer (8 float64 columns) instead of JSON lists.
"""

from __future__ import annotations

from importlib import resources

import anywidget
import numpy as np
import traitlets

from .chart import StreamingChart

_COLUMNS = ("wall", "open", "high", "low", "close", "volume", "upper", "lower")

_RENDER_JS = r"""
const LWC = globalThis.LightweightCharts;

function render({ model, el }) {
  // Draw into our own box: ipywidgets' layout code owns el.style and resets height/width set on el itself
  // (inside a GridBox the chart then collapsed to a 30 px strip).
  const box = document.createElement("div");
  box.style.height = model.get("height") + "px";
  box.style.width = model.get("width") > 0 ? model.get("width") + "px" : "100%";
  box.style.position = "relative";
  el.appendChild(box);
  const title = document.createElement("div");
  title.textContent = model.get("title");
  title.style.cssText = "position:absolute;left:6px;top:2px;z-index:3;font:12px sans-serif;color:#333";
  box.appendChild(title);
  const chart = LWC.createChart(box, {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#333", fontSize: 11 },
    grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { scaleMargins: { top: 0.12, bottom: model.get("show_volume") ? 0.25 : 0.05 } },
  });
  const candles = chart.addCandlestickSeries({ upColor: "#26a69a", downColor: "#ef5350",
    wickUpColor: "#26a69a", wickDownColor: "#ef5350", borderVisible: false });
  const line = (color) => chart.addLineSeries({ color, lineWidth: 1, lineType: 1,
    priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false });
  const upper = line("#1e88e5");
  const lower = line("#fb8c00");
  let volume = null;
  if (model.get("show_volume")) {
    volume = chart.addHistogramSeries({ color: "#90a4ae", priceScaleId: "vol", priceFormat: { type: "volume" },
      priceLineVisible: false, lastValueVisible: false });
    chart.priceScale("vol").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  }

  function draw() {
    const started = performance.now();
    const n = model.get("n");
    const raw = model.get("bars");
    const bytes = raw ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength).slice() : new Uint8Array(0);
    const a = new Float64Array(bytes.buffer, 0, bytes.byteLength / 8);
    const col = (k) => a.subarray(k * n, (k + 1) * n);
    const [t, o, h, l, c, v, up, lo] = [0, 1, 2, 3, 4, 5, 6, 7].map(col);
    const cs = new Array(n), us = new Array(n), ls = new Array(n), vs = volume ? new Array(n) : null;
    for (let i = 0; i < n; i++) {
      const time = t[i];
      cs[i] = { time, open: o[i], high: h[i], low: l[i], close: c[i] };
      us[i] = Number.isNaN(up[i]) ? { time } : { time, value: up[i] };
      ls[i] = Number.isNaN(lo[i]) ? { time } : { time, value: lo[i] };
      if (vs) vs[i] = { time, value: v[i] };
    }
    candles.setData(cs);
    upper.setData(us);
    lower.setData(ls);
    if (volume) volume.setData(vs);
    candles.setMarkers(model.get("markers").map(([time, dir]) => dir === "up"
      ? { time, position: "belowBar", color: "#2e7d32", shape: "arrowUp" }
      : { time, position: "aboveBar", color: "#c62828", shape: "arrowDown" }));
    if (model.get("follow")) chart.timeScale().scrollToRealTime();
    box.dataset.bars = String(n);
    // Record when the frame with this data is painted (used by the browser benchmark).
    const drawn = performance.now() - started;
    requestAnimationFrame(() => {
      const log = (globalThis.__bkCanvasDraws = globalThis.__bkCanvasDraws || []);
      log.push({ at: Date.now(), recv: received, ms: drawn, n });
    });
  }
  // bars, n and markers arrive in one message but fire separate change events: draw once per frame.
  let pending = false;
  let received = 0;
  const schedule = () => {
    if (pending) return;
    pending = true;
    received = Date.now();
    requestAnimationFrame(() => { pending = false; draw(); });
  };
  model.on("change:bars", schedule);
  model.on("change:markers", schedule);
  draw();
  return () => { chart.remove(); box.remove(); };
}

export default { render };
"""


def _esm() -> str:
    lib = resources.files("breakout_kit.notebook").joinpath("static/lightweight-charts.standalone.production.js")
    # The standalone build is a classic script that sets window.LightweightCharts; it runs fine inside the module.
    return lib.read_text(encoding="utf-8") + "\n" + _RENDER_JS


class CanvasWidget(anywidget.AnyWidget):
    """The front-end half of CanvasChart: a lightweight-charts canvas fed with one binary buffer per redraw."""

    _esm = _esm()
    title = traitlets.Unicode("").tag(sync=True)
    height = traitlets.Int(300).tag(sync=True)
    width = traitlets.Int(0).tag(sync=True)  # 0: fill the container
    show_volume = traitlets.Bool(True).tag(sync=True)
    follow = traitlets.Bool(True).tag(sync=True)
    n = traitlets.Int(0).tag(sync=True)
    bars = traitlets.Bytes(b"").tag(sync=True)
    markers = traitlets.List([]).tag(sync=True)


class CanvasChart(StreamingChart):
    """Drop-in alternative to LiveChart drawn with lightweight-charts on a canvas (much faster for many charts).

    Same constructor, ``flush()``, ``close()``, ``n_bars``, ``n_markers`` and ``widget`` as LiveChart.
    """

    def _build(self, title: str, height: int, show_volume: bool, compact: bool) -> None:
        self.canvas = CanvasWidget(title=title, height=height, width=self.width or 0, show_volume=show_volume)

    @property
    def widget(self):
        """The ipywidget to place in a layout."""
        return self.canvas

    def _repr_mimebundle_(self, **kwargs):
        return self.canvas._repr_mimebundle_(**kwargs)

    def _draw(self, x: np.ndarray, col: dict, ups: list, downs: list) -> None:
        n = len(x)
        block = np.vstack([col[name] for name in _COLUMNS]) if n else np.empty((len(_COLUMNS), 0))
        markers = sorted([[m[1], "up"] for m in ups] + [[m[1], "down"] for m in downs])
        with self.canvas.hold_sync():  # n, bars and markers travel in one message
            self.canvas.n = n
            self.canvas.bars = np.ascontiguousarray(block, dtype="<f8").tobytes()
            self.canvas.markers = markers

    @property
    def n_bars(self) -> int:
        return self.canvas.n

    @property
    def n_markers(self) -> int:
        return len(self.canvas.markers)
