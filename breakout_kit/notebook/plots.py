"""The one breakout figure: candles, breakout channel, markers and a lower panel (volume or equity).

Every Plotly view of bars is built here: ``BacktestResult.plot()`` (core, imported lazily inside the method), the
demo's ``--html`` file and the live ``LiveChart`` (``live_spec``, checked equal). They share colors, trace order, the
legend position and the rule that cuts nights and weekends out of the time axis.

Colors: candles are green/red; the channel is blue (upper) and orange (lower) so it never reads as a candle; the
legend sits under the chart, away from Plotly's hover toolbar (the modebar, top right).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

CANDLE_UP = "#26a69a"
CANDLE_DOWN = "#ef5350"
CHANNEL_UPPER = "#1e88e5"
CHANNEL_LOWER = "#fb8c00"
MARKER_UP = "#2e7d32"
MARKER_DOWN = "#c62828"
VOLUME = "#90a4ae"
# Under the plot, left-aligned: the modebar shows at the top right on hover and used to cover a top-right legend.
LEGEND = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.06, "yanchor": "top"}
# Trace order of a live figure; LiveChart relies on it.
LIVE_TRACES = ("price", "upper", "lower", "breakout up", "breakout down", "volume")


@dataclass
class Markers:
    """One set of markers on the price panel (breakouts, entries, exits)."""

    name: str
    x: Any
    y: Any
    symbol: str = "triangle-up"
    color: Any = MARKER_UP
    size: int = 12
    text: Any = None


@dataclass
class LowerPanel:
    """The second row: ``kind`` "bar" (volume) or "line" (equity)."""

    name: str
    x: Any
    y: Any
    kind: str = "bar"
    extra: dict = field(default_factory=dict)


def session_breaks(wall_seconds: Sequence[float] | np.ndarray) -> list[dict]:
    """Plotly rangebreaks for the pauses between sessions (nights, weekends): gaps over 4x the usual bar spacing.

    ``wall_seconds`` are the bars' wall-clock times as seconds (naive wall clock read as UTC), oldest first; Plotly
    draws wall-clock times and ignores offsets, so the bounds are wall-clock strings too.
    """
    t = np.asarray(wall_seconds, dtype=float)
    if len(t) < 3:
        return []
    step = np.diff(t)
    spacing = float(np.median(step))
    if not spacing > 0:
        return []
    return [{"bounds": [_wall(t[i] + spacing), _wall(t[i + 1])]} for i in np.flatnonzero(step > 4 * spacing)]


def index_wall_seconds(index: pd.Index) -> np.ndarray:
    """Wall-clock seconds of a DatetimeIndex (tz-aware: in its own zone), as ``session_breaks`` takes them."""
    if not isinstance(index, pd.DatetimeIndex):
        return np.empty(0)
    naive = index.tz_localize(None) if index.tz is not None else index
    return naive.asi8.astype(float) / 1e9 if naive.unit == "ns" else naive.as_unit("ns").asi8.astype(float) / 1e9


def _wall(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def breakout_figure(x=(), open=(), high=(), low=(), close=(), *, upper=None, lower=None,
                    markers: Sequence[Markers] = (), lower_panel: LowerPanel | None = None, title: str = "",
                    height: int = 600, compact: bool = False, width: int | None = None, line_only: bool = False,
                    breaks: list[dict] | None = None):
    """Candles (or a close line with ``line_only``), channel, markers and an optional lower panel.

    Traces in order: price, upper, lower, each of ``markers``, then the lower panel. ``breaks`` are rangebreaks
    (``session_breaks``); they are skipped for ``line_only`` figures, whose WebGL line vanishes on broken axes.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = 2 if lower_panel is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.75, 0.25] if rows == 2 else [1.0])
    line = go.Scattergl if line_only else go.Scatter
    if line_only:
        fig.add_trace(go.Scattergl(x=x, y=close, mode="lines", name="price", line={"width": 1}), row=1, col=1)
    else:
        fig.add_trace(go.Candlestick(x=x, open=open, high=high, low=low, close=close, name="price",
                                     increasing_line_color=CANDLE_UP, decreasing_line_color=CANDLE_DOWN,
                                     showlegend=False), row=1, col=1)
    for name, y, color in (("upper", upper, CHANNEL_UPPER), ("lower", lower, CHANNEL_LOWER)):
        fig.add_trace(line(x=x, y=[] if y is None else y, mode="lines", name=name,
                           line={"color": color, "width": 1, **({} if line_only else {"shape": "hv"})}),
                      row=1, col=1)
    for m in markers:
        fig.add_trace(go.Scatter(x=m.x, y=m.y, mode="markers", name=m.name, text=m.text,
                                 marker={"symbol": m.symbol, "size": m.size, "color": m.color,
                                         "line": {"color": "black", "width": 1}}), row=1, col=1)
    if lower_panel is not None:
        p = lower_panel
        if p.kind == "bar":
            trace = go.Bar(x=p.x, y=p.y, name=p.name, marker_color=VOLUME, showlegend=False, **p.extra)
        else:
            trace = line(x=p.x, y=p.y, mode="lines", name=p.name, **p.extra)
        fig.add_trace(trace, row=2, col=1)
        if p.kind == "bar":  # IB volumes are whole shares: no "120100.0" on the axis or in the hover
            fig.update_yaxes(tickformat=",d", hoverformat=",d", row=2, col=1)
    margin = {"l": 45, "r": 10, "t": 28, "b": 20} if compact else {"l": 50, "r": 20, "t": 45, "b": 40}
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 12 if compact else 15}}, height=height,
                      width=width, autosize=width is None, margin=margin, showlegend=not compact,
                      legend=LEGEND, uirevision="keep", hovermode="x")
    fig.update_xaxes(rangeslider_visible=False)
    if breaks and not line_only:
        fig.update_xaxes(rangebreaks=breaks)
    return fig


def live_spec(*, title: str, height: int, compact: bool, width: int | None, show_volume: bool) -> dict:
    """The empty figure a LiveChart's view fills, as a plain dict ``{"data": [...], "layout": {...}}``: the same
    figure as ``breakout_figure`` (traces in ``LIVE_TRACES`` order), with time axes of type "date" fed with
    wall-clock epoch milliseconds.

    Written out by hand so a live chart needs no plotly import in the kernel (plotly's validators cost 0.4 s and
    more on a busy kernel); tests/notebook/test_charts.py checks it equals what plotly builds, template included
    (``static/plotly-template.json`` is plotly's default template).
    """
    import copy
    import json
    from importlib import resources

    if not _TEMPLATE:
        path = resources.files("breakout_kit.notebook").joinpath("static/plotly-template.json")
        _TEMPLATE.append(json.loads(path.read_text(encoding="utf-8")))
    rows = 2 if show_volume else 1
    ax = {"automargin": True, "nticks": 4} if compact else {}
    ay = {"automargin": True, "nticks": 5} if compact else {}
    data = [
        {"close": [], "decreasing": {"line": {"color": CANDLE_DOWN}}, "high": [],
         "increasing": {"line": {"color": CANDLE_UP}}, "low": [], "name": "price", "open": [], "showlegend": False,
         "x": [], "type": "candlestick", "xaxis": "x", "yaxis": "y"},
        *({"line": {"color": color, "shape": "hv", "width": 1}, "mode": "lines", "name": name, "x": [], "y": [],
           "type": "scatter", "xaxis": "x", "yaxis": "y"}
          for name, color in (("upper", CHANNEL_UPPER), ("lower", CHANNEL_LOWER))),
        *({"marker": {"color": color, "line": {"color": "black", "width": 1}, "size": 12, "symbol": symbol},
           "mode": "markers", "name": name, "x": [], "y": [], "type": "scatter", "xaxis": "x", "yaxis": "y"}
          for name, color, symbol in (("breakout up", MARKER_UP, "triangle-up"),
                                      ("breakout down", MARKER_DOWN, "triangle-down"))),
    ]
    layout: dict = {}
    if rows == 2:
        data.append({"marker": {"color": VOLUME}, "name": "volume", "showlegend": False, "x": [], "y": [],
                     "type": "bar", "xaxis": "x2", "yaxis": "y2"})
        spacing, lower = 0.03, (1 - 0.03) * 0.25  # make_subplots: row heights 0.75 / 0.25, spacing 0.03
        layout["xaxis"] = {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False,
                           "rangeslider": {"visible": False}, "type": "date", **ax}
        layout["yaxis"] = {"anchor": "x", "domain": [lower + spacing, 1.0], **ay}
        layout["xaxis2"] = {"anchor": "y2", "domain": [0.0, 1.0], "rangeslider": {"visible": False}, "type": "date",
                            **ax}
        layout["yaxis2"] = {"anchor": "x2", "domain": [0.0, lower], "tickformat": ",d", "hoverformat": ",d", **ay}
    else:
        layout["xaxis"] = {"anchor": "y", "domain": [0.0, 1.0], "rangeslider": {"visible": False}, "type": "date",
                           **ax}
        layout["yaxis"] = {"anchor": "x", "domain": [0.0, 1.0], **ay}
    layout.update({
        "title": {"font": {"size": 12 if compact else 15}, "text": title, "x": 0.01},
        "margin": {"l": 45, "r": 10, "t": 28, "b": 20} if compact else {"l": 50, "r": 20, "t": 45, "b": 40},
        "legend": dict(LEGEND), "height": height, "autosize": width is None, "showlegend": not compact,
        "uirevision": "keep", "hovermode": "x", "template": copy.deepcopy(_TEMPLATE[0])})
    if width is not None:
        layout["width"] = width
    return {"data": data, "layout": layout}


_TEMPLATE: list[dict] = []


def watcher_figure(watcher, *, height: int = 420):
    """A static figure of one watcher's bars (with its channel columns, if any) and signals."""
    df = watcher.bars
    ups = [s for s in watcher.signals if s.direction == "up"]
    downs = [s for s in watcher.signals if s.direction == "down"]
    markers = [Markers("breakout up", [s.time for s in ups], [s.price for s in ups], "triangle-up", MARKER_UP),
               Markers("breakout down", [s.time for s in downs], [s.price for s in downs], "triangle-down",
                       MARKER_DOWN)]
    if df is None or not len(df):
        return breakout_figure(markers=markers, title=str(watcher.symbol), height=height)
    col = (lambda c: df[c] if c in df.columns else None)
    vol = LowerPanel("volume", df.index, df["volume"]) if "volume" in df.columns else None
    return breakout_figure(df.index, df["open"], df["high"], df["low"], df["close"], upper=col("upper"),
                           lower=col("lower"), markers=markers, lower_panel=vol, title=str(watcher.symbol),
                           height=height, breaks=session_breaks(index_wall_seconds(df.index)))


def write_watchers_html(watchers, path: str, *, title: str = "breakout_kit demo") -> None:
    """One figure per watcher, stacked in one self-contained HTML file (plotly.js inlined once)."""
    import plotly.io as pio

    parts = []
    for k, w in enumerate(watchers):
        fig = watcher_figure(w)
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=(k == 0)))
    body = "\n".join(parts) if parts else "<p>no watchers</p>"
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
                f"<body><h2 style='font-family:sans-serif'>{title}</h2>\n{body}\n</body></html>")


def sweep_heatmap(table: pd.DataFrame, *, x: str = "take_profit_pct", y: str = "lookback", value: str = "sharpe",
                  agg: str = "mean", title: str | None = None):
    """A heatmap of a ``sweep`` table: ``value`` (a stats column) by two parameters, the other axes (symbols,
    stops, ...) reduced with ``agg`` (``"mean"``, ``"median"``, ``"min"``, ``"max"``). Infinite values (a profit
    factor without a losing trade) are left out of the reduction."""
    import plotly.graph_objects as go

    missing = [c for c in (x, y, value) if c not in table.columns]
    if missing:
        raise ValueError(f"the sweep table has no column(s) {missing}; it has {list(table.columns)}")
    values = pd.to_numeric(table[value], errors="coerce").replace([np.inf, -np.inf], np.nan)
    grid = values.groupby([table[y], table[x]]).agg(agg).unstack(x).sort_index()
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[str(c) for c in grid.columns], y=[str(i) for i in grid.index],
                               colorscale="RdYlGn", colorbar={"title": value},
                               hovertemplate=f"{y} %{{y}}<br>{x} %{{x}}<br>{agg} {value} %{{z:.3g}}<extra></extra>"))
    fig.update_layout(title=title or f"{agg} {value} by {y} and {x}", xaxis_title=x, yaxis_title=y,
                      template="plotly_white", height=420)
    return fig
