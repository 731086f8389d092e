"""LiveChart: a Plotly FigureWidget that follows one watcher — candles, channel, breakout markers, volume.

The chart is a view: it subscribes to the watcher's ``bar_event`` / ``signal_event`` and never drives the watcher.
Bars go into fixed-size numpy ring buffers (``window`` bars), so the cost of one update depends on the window only,
never on how many bars the watcher has seen. Each bar just marks the chart dirty; one flush is scheduled on the
running loop with ``loop.call_later`` (no polling task) at most every ``throttle`` seconds, and the flush assigns
whole arrays inside ``fig.batch_update()`` — one comm message per flush, not one per bar.
"""

from __future__ import annotations

import asyncio
import time as _time
from collections import deque
from datetime import datetime, timezone
from typing import Any

import numpy as np

_FIELDS = ("open", "high", "low", "close", "volume", "upper", "lower", "wall")  # wall: wall-clock epoch


def _to_datetime(value: Any) -> datetime:
    """A bar/signal time as a datetime (pandas Timestamps are datetimes already; dates get midnight)."""
    if isinstance(value, datetime):
        return value
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "year") and hasattr(value, "month"):  # a plain date (daily bars)
        return datetime(value.year, value.month, value.day)
    raise TypeError(f"bar time must be a datetime, got {type(value).__name__}")


class _Ring:
    """Fixed-capacity ring of bars: x labels (ISO strings), epoch seconds and OHLCV + channel as float arrays."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.x = np.empty(capacity, dtype=object)
        self.t = np.zeros(capacity)
        self.cols = {name: np.full(capacity, np.nan) for name in _FIELDS}
        self.head = 0  # next slot to write
        self.size = 0

    def push(self, label: str, epoch: float, values: tuple[float, ...]) -> None:
        i = self.head
        if self.size and epoch == self.t[(i - 1) % self.capacity]:
            i = (i - 1) % self.capacity  # same bar time again (a bar being revised): overwrite, don't append
        else:
            self.head = (i + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
        self.x[i] = label
        self.t[i] = epoch
        for name, v in zip(_FIELDS, values):
            self.cols[name][i] = v

    def ordered(self, arr: np.ndarray) -> np.ndarray:
        """Oldest-to-newest copy of one column: O(window), independent of bars seen."""
        if self.size < self.capacity:
            return arr[: self.size].copy()
        return np.concatenate((arr[self.head:], arr[: self.head]))


class StreamingChart:
    """Renderer-independent part of a live chart: window, markers, subscriptions and the throttled flush.

    Subclasses build the widget in ``_build`` and draw whole arrays in ``_draw``.
    """

    def __init__(self, watcher, window: int = 500, throttle: float = 0.3, *, height: int = 420,
                 title: str | None = None, tz=None, show_volume: bool = True, compact: bool = False,
                 width: int | None = None):
        if not isinstance(window, int) or window < 2:
            raise ValueError(f"window must be an int >= 2, got {window!r}")
        if throttle < 0:
            raise ValueError(f"throttle must be >= 0 seconds, got {throttle!r}")
        if isinstance(tz, str):
            from zoneinfo import ZoneInfo

            tz = ZoneInfo(tz)
        self.watcher = watcher
        self.window = window
        self.throttle = float(throttle)
        self.tz = tz
        self._ring = _Ring(window)
        self._signals: deque = deque(maxlen=window)  # (epoch, label, direction, price)
        self._dirty = False
        self._handle: asyncio.TimerHandle | None = None
        self._last_flush = float("-inf")
        self._closed = False
        self.flushes = 0  # number of redraws sent to the front end
        self.bars_received = 0
        self.signals_received = 0
        self.last_flush_seconds = 0.0  # Python-side cost of the latest flush
        if width is not None and (not isinstance(width, int) or width < 50):
            raise ValueError(f"width must be None (fill the container) or an int >= 50 pixels, got {width!r}")
        self.width = width
        self._build(title if title is not None else str(getattr(watcher, "symbol", "")),
                    height, show_volume, compact)
        self._seed_from_watcher()
        watcher.bar_event.connect(self._on_bar)
        watcher.signal_event.connect(self._on_signal)
        self._state_event = getattr(watcher, "state_event", None)
        if self._state_event is not None:
            self._state_event.connect(self._on_state)

    # ---- data in -----------------------------------------------------------------------------------------
    def _label(self, when) -> tuple[str, float, float]:
        """(naive ISO-8601 wall-clock label, true epoch seconds, wall-clock epoch seconds) of a time."""
        dt = _to_datetime(when)
        if self.tz is not None and dt.tzinfo is not None:
            dt = dt.astimezone(self.tz)
        # Browser charts have no exchange time zones: show the bar's wall-clock time.
        naive = dt.replace(tzinfo=None)
        return naive.isoformat(), dt.timestamp(), naive.replace(tzinfo=timezone.utc).timestamp()

    def _seed_from_watcher(self) -> None:
        """Start from whatever the watcher already holds (backfilled bars, earlier signals)."""
        bars = getattr(self.watcher, "bars", None)
        if bars is not None and len(bars):
            tail = bars.tail(self.window)
            cols = {c: (tail[c].to_numpy(dtype=float) if c in tail.columns else np.full(len(tail), np.nan))
                    for c in _FIELDS}
            for k, when in enumerate(tail.index):
                label, epoch, wall = self._label(when)
                cols["wall"][k] = wall
                self._ring.push(label, epoch, tuple(cols[c][k] for c in _FIELDS))
            self._dirty = True
        for sig in list(getattr(self.watcher, "signals", None) or [])[-self.window:]:
            self._add_signal(sig)
        if self._dirty:
            self.flush()

    def add_bar(self, bar, channel=None) -> None:
        """Put one bar (and the channel that applied to it, or None) into the window and schedule a redraw."""
        upper, lower = channel if channel is not None else (np.nan, np.nan)
        label, epoch, wall = self._label(bar.time)
        self._ring.push(label, epoch, (float(bar.open), float(bar.high), float(bar.low), float(bar.close),
                                       float(bar.volume), float(upper), float(lower), wall))
        self.bars_received += 1
        self._mark_dirty()

    def add_signal(self, signal) -> None:
        """Put one breakout marker on the chart and schedule a redraw."""
        self._add_signal(signal)
        self._mark_dirty()

    def _add_signal(self, signal) -> None:
        label, epoch, wall = self._label(signal.time)
        self._signals.append((epoch, label, wall, signal.direction, float(signal.price)))
        self.signals_received += 1

    def _on_bar(self, watcher, bar, channel) -> None:
        self.add_bar(bar, channel)

    def _on_signal(self, watcher, signal) -> None:
        self.add_signal(signal)

    def _on_state(self, watcher, state) -> None:
        # On going live (first time, or again after a reconnect) the watcher's window holds the backfill, which may
        # not have come through bar events: redraw from it so the chart starts with history, without gaps.
        if state == "live" and not self._closed:
            self.reload()

    def reload(self) -> None:
        """Rebuild the window from the watcher's ``bars`` and ``signals`` (O(window)) and redraw."""
        self._ring = _Ring(self.window)
        self._signals.clear()
        self._dirty = True
        self._seed_from_watcher()

    # ---- throttled redraw --------------------------------------------------------------------------------
    def _mark_dirty(self) -> None:
        if self._closed:
            return
        self._dirty = True
        if self._handle is not None:
            return  # a flush is already scheduled; it will pick this bar up
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (plain sync use): stay dirty until flush() is called
        delay = max(0.0, self._last_flush + self.throttle - _time.monotonic())
        self._handle = loop.call_later(delay, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._handle = None
        if self._dirty and not self._closed:
            self.flush()

    def flush(self) -> None:
        """Redraw now with everything received so far (one batched update of whole arrays)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        started = _time.perf_counter()
        ring = self._ring
        x = ring.ordered(ring.x)
        col = {name: ring.ordered(arr) for name, arr in ring.cols.items()}
        oldest = ring.ordered(ring.t)[0] if ring.size else float("inf")
        ups = [(lab, wall, p) for (e, lab, wall, d, p) in self._signals if d == "up" and e >= oldest]
        downs = [(lab, wall, p) for (e, lab, wall, d, p) in self._signals if d == "down" and e >= oldest]
        self._draw(x, col, ups, downs)
        self._dirty = False
        self._last_flush = _time.monotonic()
        self.flushes += 1
        self.last_flush_seconds = _time.perf_counter() - started

    # ---- introspection ---------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def close(self) -> None:
        """Stop following the watcher (unsubscribe, cancel a pending redraw). The figure keeps its last state."""
        if self._closed:
            return
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.watcher.bar_event.disconnect(self._on_bar)
        self.watcher.signal_event.disconnect(self._on_signal)
        if self._state_event is not None:
            self._state_event.disconnect(self._on_state)

    def _build(self, title: str, height: int, show_volume: bool, compact: bool) -> None:
        raise NotImplementedError

    def _draw(self, x: np.ndarray, col: dict, ups: list, downs: list) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({getattr(self.watcher, 'symbol', '?')!r}, window={self.window}, "
                f"bars={self._ring.size}, flushes={self.flushes})")


class LiveChart(StreamingChart):
    """Live candlestick chart of one watcher (Plotly FigureWidget): candles, channel, breakout markers, volume.

    ``LiveChart(watcher, window=500, throttle=0.3, *, height=420, title=None, tz=None, show_volume=True,
    compact=False, width=None)``; display it in a cell (or put ``chart.widget`` in a layout). ``chart.flush()`` forces a
    redraw now; ``chart.close()`` unsubscribes from the watcher. Times are shown in the bars' own time zone
    unless ``tz`` (a ``zoneinfo.ZoneInfo`` or name) is given.
    """

    # ---- figure ------------------------------------------------------------------------------------------
    def _build(self, title: str, height: int, show_volume: bool, compact: bool) -> None:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        rows = 2 if show_volume else 1
        base = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                             row_heights=[0.78, 0.22] if show_volume else [1.0])
        fig = go.FigureWidget(base)
        fig.add_trace(go.Candlestick(name="price", x=[], open=[], high=[], low=[], close=[],
                                     increasing_line_color="#26a69a", decreasing_line_color="#ef5350",
                                     showlegend=False), row=1, col=1)
        fig.add_trace(go.Scatter(name="upper", x=[], y=[], mode="lines",
                                 line={"color": "#1e88e5", "width": 1, "shape": "hv"}), row=1, col=1)
        fig.add_trace(go.Scatter(name="lower", x=[], y=[], mode="lines",
                                 line={"color": "#fb8c00", "width": 1, "shape": "hv"}), row=1, col=1)
        fig.add_trace(go.Scatter(name="breakout up", x=[], y=[], mode="markers",
                                 marker={"symbol": "triangle-up", "size": 12, "color": "#2e7d32",
                                             "line": {"color": "black", "width": 1}}), row=1, col=1)
        fig.add_trace(go.Scatter(name="breakout down", x=[], y=[], mode="markers",
                                 marker={"symbol": "triangle-down", "size": 12, "color": "#c62828",
                                             "line": {"color": "black", "width": 1}}), row=1, col=1)
        if show_volume:
            fig.add_trace(go.Bar(name="volume", x=[], y=[], marker_color="#90a4ae", showlegend=False),
                          row=2, col=1)
        margin = {"l": 40, "r": 10, "t": 30, "b": 20} if compact else {"l": 50, "r": 20, "t": 40, "b": 30}
        fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 12 if compact else 15}}, height=height,
                          width=self.width, autosize=self.width is None,  # fill the output area, not plotly's 700 px
                          margin=margin, showlegend=not compact, uirevision="keep",
                          legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0})
        fig.update_xaxes(rangeslider_visible=False)
        self.fig = fig

    @property
    def widget(self):
        """The ipywidget to place in a layout (the FigureWidget)."""
        return self.fig

    def _repr_mimebundle_(self, **kwargs):
        return self.fig._repr_mimebundle_(**kwargs)

    def _draw(self, x: np.ndarray, col: dict, ups: list, downs: list) -> None:
        data = self.fig.data
        with self.fig.batch_update():  # one message with whole arrays, not one per trace or per bar
            candle = data[0]
            candle.x, candle.open, candle.high, candle.low, candle.close = (
                x, col["open"], col["high"], col["low"], col["close"])
            data[1].x, data[1].y = x, col["upper"]
            data[2].x, data[2].y = x, col["lower"]
            data[3].x, data[3].y = [m[0] for m in ups], [m[2] for m in ups]
            data[4].x, data[4].y = [m[0] for m in downs], [m[2] for m in downs]
            if len(data) > 5:
                data[5].x, data[5].y = x, col["volume"]

    # ---- introspection -----------------------------------------------------------------------------------
    @property
    def n_bars(self) -> int:
        """Candles currently drawn (after the latest flush)."""
        x = self.fig.data[0].x
        return 0 if x is None else len(x)

    @property
    def n_markers(self) -> int:
        """Breakout markers currently drawn (up + down)."""
        return sum(0 if t.x is None else len(t.x) for t in self.fig.data[3:5])
