"""Dashboard: a grid of small live charts (one per watcher) and a feed of the latest signals."""

from __future__ import annotations

import html
from collections import deque

import ipywidgets as W

from breakout_kit.notebook.chart import LiveChart, StreamingChart


def chart_class(renderer: str) -> type[StreamingChart]:
    """The chart class for ``renderer``: "plotly" (LiveChart) or "canvas" (CanvasChart, lightweight-charts)."""
    if renderer == "plotly":
        return LiveChart
    if renderer == "canvas":
        from breakout_kit.notebook.canvas import CanvasChart

        return CanvasChart
    raise ValueError(f"renderer must be 'plotly' or 'canvas', got {renderer!r}")


class Dashboard(W.VBox):
    """Grid of compact charts plus a signal feed, for many watchers at once.

    ``Dashboard(source, columns=3, window=300, throttle=0.5, chart_height=260, feed_size=20, renderer="canvas", tz=None)``
    where ``source`` is a ControlPanel (its current watchers, and any it starts later) or an iterable of watchers.
    ``dash.add(watcher)`` adds one, ``dash.remove(symbol)`` takes one away; ``dash.charts`` maps symbol to chart;
    ``dash.close()`` releases everything. Charts sit in fixed slots: adding or removing one never touches the views
    of the others (replacing a container's children re-renders every chart). ``dash.stale`` lists the symbols
    whose view is behind.
    ``renderer="canvas"`` (default) draws with the vendored lightweight-charts, which keeps 20 charts x 500 bars
    fast; ``renderer="plotly"`` uses LiveChart (Plotly needs ~0.85 s to redraw such a grid).
    """

    def __init__(self, source=(), *, columns: int = 3, window: int = 300, throttle: float = 0.5,
                 chart_height: int = 260, feed_size: int = 20, renderer: str = "canvas",
                 tz=None):
        self.chart_class = chart_class(renderer)
        self.tz = tz if tz is not None else getattr(source, "tz", None)
        if isinstance(self.tz, str):  # a zone name, as the charts take it
            from zoneinfo import ZoneInfo

            self.tz = ZoneInfo(self.tz)
        if columns < 1:
            raise ValueError(f"columns must be >= 1, got {columns!r}")
        self.columns = columns
        self.window = window
        self.throttle = throttle
        self.chart_height = chart_height
        self.charts: dict[str, StreamingChart] = {}
        self._watchers: list = []
        self._feed: deque = deque(maxlen=feed_size)
        self.feed = W.HTML()
        # minmax(0, 1fr): a tile may shrink below its content's width instead of overflowing (clipped labels)
        self.grid = W.GridBox(layout=W.Layout(grid_template_columns=f"repeat({columns}, minmax(0, 1fr))",
                                              grid_gap="4px"))
        self._slots: dict[str, W.Box] = {}  # symbol -> its slot in the grid
        self._free: list[W.Box] = []        # emptied slots, reused before the grid grows
        self._panel = None
        self._render_feed()
        children = [self.feed, self.grid]
        if self.chart_class.__name__ == "CanvasChart":  # the library's attribution once, not on every tile
            children.append(W.HTML("<span style='font-size:10px;color:#888'>charts: "
                                   "<a href='https://www.tradingview.com/lightweight-charts/' target='_blank'>"
                                   "TradingView Lightweight Charts&trade;</a></span>"))
        super().__init__(children)
        started = getattr(source, "started_event", None)
        if started is not None:  # a ControlPanel: follow what it has and what it starts later
            self._panel = source
            watchers = list(source.watchers.values())
            started.connect(self.add)
        else:
            watchers = list(source)
        for watcher in watchers:
            self.add(watcher)

    def add(self, watcher) -> StreamingChart:
        """Add a small chart for ``watcher`` and follow its signals; returns the chart."""
        symbol = str(watcher.symbol)
        self.remove(symbol)
        chart = self.chart_class(watcher, window=self.window, throttle=self.throttle, height=self.chart_height,
                                 compact=True, show_volume=False, tz=self.tz)
        if self.chart_class is chart_class("canvas"):   # tiles are small: no attribution line under each
            chart.canvas.attribution = False
        self.charts[symbol] = chart
        self._watchers.append(watcher)
        watcher.signal_event.connect(self._on_signal)
        if self._free:
            slot = self._free.pop(0)
            slot.children = (chart.widget,)
            slot.layout.display = None
        else:
            # a column box stretches its child to the tile's width (a plain flex row shrank the canvas to 0 px)
            slot = W.VBox((chart.widget,), layout=W.Layout(min_width="0", width="100%"))
            self.grid.children = (*self.grid.children, slot)  # appended: the views before it are kept
        self._slots[symbol] = slot
        return chart

    def remove(self, symbol: str) -> None:
        """Take ``symbol``'s chart away and release it; the other tiles are not re-rendered."""
        chart = self.charts.pop(symbol, None)
        slot = self._slots.pop(symbol, None)
        if chart is None:
            return
        if slot is not None:
            slot.children = ()
            slot.layout.display = "none"
            self._free.append(slot)
        chart.close()  # after its view left the page: no update can reach a view being torn down
        watcher = chart.watcher
        if watcher in self._watchers:
            self._watchers.remove(watcher)
            watcher.signal_event.disconnect(self._on_signal)

    @property
    def stale(self) -> list[str]:
        """Symbols whose chart view is behind the kernel by more than the chart's ``stale_after``."""
        return [s for s, c in self.charts.items() if c.stale]

    def _on_signal(self, watcher, signal) -> None:
        self._feed.appendleft((watcher.symbol, signal))
        self._render_feed()

    @property
    def signals(self) -> list:
        """Latest signals first, as (symbol, signal) pairs."""
        return list(self._feed)

    def _render_feed(self) -> None:
        if not self._feed:
            self.feed.value = "<b>signals:</b> <i>none yet</i>"
            return
        items = []
        for symbol, s in self._feed:
            arrow = "&#9650;" if s.direction == "up" else "&#9660;"
            color = "#2e7d32" if s.direction == "up" else "#c62828"
            t = s.time
            if self.tz is not None and getattr(t, "tzinfo", None) is not None:
                t = t.astimezone(self.tz)  # the same clock as the charts' axes
            when = t.strftime("%H:%M") if hasattr(t, "strftime") else str(t)
            items.append(f"<span style='color:{color}'>{arrow} <b>{html.escape(symbol)}</b> "
                         f"{s.price:.2f} (level {s.level:.2f}) {when}</span>")
        self.feed.value = "<b>signals:</b> " + " &middot; ".join(items)

    def flush(self) -> None:
        """Redraw every chart now."""
        for chart in self.charts.values():
            chart.flush()

    def close(self) -> None:
        """Unsubscribe every chart and the feed (figures keep their last state)."""
        for chart in self.charts.values():
            chart.close()
        for watcher in self._watchers:
            watcher.signal_event.disconnect(self._on_signal)
        self._watchers.clear()
        if self._panel is not None:
            self._panel.started_event.disconnect(self.add)
            self._panel = None
