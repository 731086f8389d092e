"""LiveChart: a live Plotly chart that follows one watcher — candles, channel, breakout markers, volume.

The chart is a view: it subscribes to the watcher's ``bar_event`` / ``signal_event`` and never drives the watcher.
Bars go into fixed-size numpy ring buffers (``window`` bars), so the cost of one update depends on the window only,
never on how many bars the watcher has seen. Each bar just marks the chart dirty; one flush is scheduled on the
running loop with ``loop.call_later`` (no polling task) at most every ``throttle`` seconds: one comm message per
flush, not one per bar. LiveChart's flush sends only what changed (new bars, the revised last bar, new markers)
as binary float64 columns; CanvasChart's sends the window.

Backpressure: the front end acknowledges every update once it has drawn it (our JS in ``static/``, after the frame).
With ``max_in_flight`` updates unacknowledged the chart sends nothing more and keeps coalescing bars into its
window, so the browser is never fed faster than it draws. ``lag_s`` says how long the newest data has waited to be
shown; past ``stale_after`` seconds the chart is ``stale`` (``stale_event`` fires, and the next update shows "view
is N s behind" on the chart). Acknowledgements arrive on whatever thread the kernel runs widget comms on (a subshell
thread with JupyterLab >= 4.4), so they are handed to the loop with ``call_soon_threadsafe``."""

from __future__ import annotations

import asyncio
import sys
import threading
import time as _time
from collections import deque
from datetime import datetime, timezone
from typing import Any

import numpy as np

from breakout_kit.client.events import Event

_FIELDS = ("open", "high", "low", "close", "volume", "upper", "lower", "wall")  # wall: wall-clock epoch
_FIELD_INDEX = {name: k for k, name in enumerate(_FIELDS)}


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
    """Fixed-capacity ring of bars: epoch seconds and OHLCV + channel (+ wall-clock seconds) as float arrays.

    Rows have absolute numbers (``appended`` so far; row k sits in slot k % capacity), so a view fed by deltas can be
    sent exactly the rows appended or revised since its last update.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.t = np.zeros(capacity)
        # one (fields, capacity) block, so a delta's rows come out in one indexing step; cols are its row views
        self.block = np.full((len(_FIELDS), capacity), np.nan)
        self.cols = {name: self.block[k] for name, k in _FIELD_INDEX.items()}
        self.head = 0  # next slot to write
        self.size = 0
        self.appended = 0  # rows ever appended
        self.revised: int | None = None  # lowest absolute row overwritten in place since the last delta

    def push(self, epoch: float, values: tuple[float, ...]) -> None:
        i = self.head
        if self.size and epoch == self.t[(i - 1) % self.capacity]:
            i = (i - 1) % self.capacity  # same bar time again (a bar being revised): overwrite, don't append
            row = self.appended - 1
            self.revised = row if self.revised is None else min(self.revised, row)
        else:
            self.head = (i + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
            self.appended += 1
        self.t[i] = epoch
        for name, v in zip(_FIELDS, values):
            self.cols[name][i] = v

    def load(self, epochs: np.ndarray, cols: dict[str, np.ndarray]) -> None:
        """Fill an empty ring at once with rows of distinct times, oldest first (at most ``capacity``): what
        ``push`` row by row would make."""
        n = len(epochs)
        self.t[:n] = epochs
        for name in _FIELDS:
            self.cols[name][:n] = cols[name]
        self.head = n % self.capacity
        self.size = self.appended = n

    @property
    def first(self) -> int:
        """Absolute number of the oldest row still held."""
        return self.appended - self.size

    def rows(self, start: int, names: tuple[str, ...]) -> np.ndarray:
        """Rows ``start`` .. newest of the columns ``names`` as one new (len(names), n) float64 block."""
        lo = max(start, self.first)
        n = self.appended - lo
        if n <= 0:
            return np.empty((len(names), 0))
        order = [_FIELD_INDEX[name] for name in names]
        a = lo % self.capacity
        if a + n <= self.capacity:             # no wrap: a slice (the usual delta, a bar or two)
            return self.block[order, a:a + n]
        return self.block[order][:, np.arange(a, a + n) % self.capacity]


class StreamingChart:
    """Renderer-independent part of a live chart: window, markers, subscriptions and the throttled flush.

    Subclasses build the widget in ``_build`` and draw whole arrays in ``_draw``.
    """

    def __init__(self, watcher, window: int = 500, throttle: float = 0.3, *, height: int = 420,
                 title: str | None = None, tz=None, show_volume: bool = True, compact: bool = False,
                 width: int | None = None, max_in_flight: int = 1, stale_after: float = 2.0,
                 resend_after: float = 10.0):
        if not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise ValueError(f"max_in_flight must be an int >= 1, got {max_in_flight!r}")
        if not stale_after > 0 or not resend_after > 0:
            raise ValueError(f"stale_after and resend_after must be > 0 seconds, got {stale_after!r}, "
                             f"{resend_after!r}")
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
        self._signals: deque = deque(maxlen=window)  # (epoch, wall-clock epoch, direction, price)
        self._dirty = False
        self._handle: asyncio.TimerHandle | None = None
        self._last_flush = float("-inf")
        self._closed = False
        self.flushes = 0  # number of redraws sent to the front end
        self.bars_received = 0
        self.signals_received = 0
        self.last_flush_seconds = 0.0  # Python-side cost of the latest flush
        # backpressure: updates sent and not yet acknowledged, oldest first: (token, sent_at, oldest unshown data)
        self.max_in_flight = max_in_flight
        self.stale_after = float(stale_after)
        self.resend_after = float(resend_after)
        self._in_flight: deque = deque()
        self._unsent_since: float | None = None  # monotonic arrival of the oldest bar in no update yet
        self._acked_once = False  # a view has drawn at least once: from then on, acks gate the sends
        self._last_token = 0
        self._watchdog: asyncio.TimerHandle | None = None
        self._stale = False
        self.stale_event = Event("stale_event")  # (chart, stale: bool) when the view falls behind / catches up
        self.acks = 0
        self.coalesced = 0  # bars that waited for an acknowledgement (drawn later, together with newer ones)
        self.stopped = False  # the watcher stopped or failed: the chart says so
        self._title = title if title is not None else str(watcher.symbol)
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        if width is not None and (not isinstance(width, int) or width < 50):
            raise ValueError(f"width must be None (fill the container) or an int >= 50 pixels, got {width!r}")
        self.width = width
        # what the views hold (see _delta): the next update is whole until one went out
        self._seq = 0
        self._need_full = True
        self._sent_rows = 0         # ring rows (absolute) sent
        self._sent_signals = 0      # signals_received when the last update went out
        self._n_bars = self._n_markers = 0
        self.messages_sent = 0
        self.bytes_sent = 0         # row bytes sent (8 float64 columns per row)
        self.last_message: dict | None = None  # the latest update (without its buffer)
        self._build(self._title, height, show_volume, compact)
        self._seed_from_watcher()
        watcher.bar_event.connect(self._on_bar)
        watcher.signal_event.connect(self._on_signal)
        self._state_event = watcher.state_event
        if self._state_event is not None:
            self._state_event.connect(self._on_state)

    # ---- data in -----------------------------------------------------------------------------------------
    def _label(self, when) -> tuple[float, float]:
        """(true epoch seconds, wall-clock epoch seconds) of a time: browser charts have no exchange time zones,
        they show the bar's wall-clock time (in ``tz`` if given) as if it were UTC."""
        dt = _to_datetime(when)
        if dt.tzinfo is None:
            wall = dt.replace(tzinfo=timezone.utc).timestamp()
            return wall, wall
        if self.tz is not None:
            dt = dt.astimezone(self.tz)
        epoch = dt.timestamp()
        offset = dt.utcoffset()
        return epoch, epoch + (offset.total_seconds() if offset else 0.0)

    def _index_labels(self, index) -> tuple[np.ndarray, np.ndarray] | None:
        """``_label`` of a whole pandas DatetimeIndex at once (None for any other index)."""
        pd = sys.modules.get("pandas")
        if pd is None or not isinstance(index, pd.DatetimeIndex):
            return None
        if index.tz is None:
            epoch = index.as_unit("ns").asi8 / 1e9
            return epoch, epoch
        zoned = index.tz_convert(self.tz) if self.tz is not None else index
        return zoned.as_unit("ns").asi8 / 1e9, zoned.tz_localize(None).as_unit("ns").asi8 / 1e9

    def _seed_from_watcher(self) -> None:
        """Start from whatever the watcher already holds (backfilled bars, earlier signals)."""
        bars = self.watcher.bars
        if bars is not None and len(bars):
            tail = bars.tail(self.window)
            cols = {c: (tail[c].to_numpy(dtype=float) if c in tail.columns else np.full(len(tail), np.nan))
                    for c in _FIELDS}
            labels = self._index_labels(tail.index)  # 20 charts go live in one burst: no per-row Python there
            if labels is not None and self._ring.size == 0 and bool(np.all(np.diff(labels[0]) > 0)):
                epochs, cols["wall"] = labels
                self._ring.load(epochs, cols)
            else:
                for k, when in enumerate(tail.index):
                    epoch, wall = self._label(when)
                    cols["wall"][k] = wall
                    self._ring.push(epoch, tuple(cols[c][k] for c in _FIELDS))
            self._dirty = True
        for sig in list(self.watcher.signals or [])[-self.window:]:
            self._add_signal(sig)
        if self._dirty:
            self.flush()

    def add_bar(self, bar, channel=None) -> None:
        """Put one bar (and the channel that applied to it, or None) into the window and schedule a redraw."""
        upper, lower = channel if channel is not None else (np.nan, np.nan)
        epoch, wall = self._label(bar.time)
        self._ring.push(epoch, (float(bar.open), float(bar.high), float(bar.low), float(bar.close),
                                       float(bar.volume), float(upper), float(lower), wall))
        self.bars_received += 1
        self._mark_dirty()

    def add_signal(self, signal) -> None:
        """Put one breakout marker on the chart and schedule a redraw."""
        self._add_signal(signal)
        self._mark_dirty()

    def _add_signal(self, signal) -> None:
        epoch, wall = self._label(signal.time)
        self._signals.append((epoch, wall, signal.direction, float(signal.price)))
        self.signals_received += 1

    def _on_bar(self, watcher, bar, channel) -> None:
        self.add_bar(bar, channel)

    def _on_signal(self, watcher, signal) -> None:
        self.add_signal(signal)

    def _on_state(self, watcher, state) -> None:
        stopped = state in ("stopped", "failed")
        if stopped != self.stopped and not self._closed:
            self.stopped = stopped
            self._dirty = True
            self._mark_dirty()  # redraw the title with (or without) the stopped mark
        # On going live (first time, or again after a reconnect) the watcher's window holds the backfill, which may
        # not have come through bar events: redraw from it so the chart starts with history, without gaps.
        if state == "live" and not self._closed:
            self.reload()

    def reload(self) -> None:
        """Rebuild the window from the watcher's ``bars`` and ``signals`` (O(window)) and redraw."""
        self._need_full = True  # the history may differ from what the views hold
        self._ring = _Ring(self.window)
        self._signals.clear()
        self._dirty = True
        self._seed_from_watcher()

    # ---- throttled redraw --------------------------------------------------------------------------------
    def _mark_dirty(self) -> None:
        if self._closed:
            return
        if self._unsent_since is None:
            self._unsent_since = _time.monotonic()
        self._dirty = True
        if self._handle is not None:
            return  # a flush is already scheduled; it will pick this bar up
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (plain sync use): stay dirty until flush() is called
        if self._gated():
            self.coalesced += 1
            self._arm_watchdog(loop)
            return  # the ack (or the watchdog) schedules the next flush
        delay = max(0.0, self._last_flush + self.throttle - _time.monotonic())
        self._handle = loop.call_later(delay, self._scheduled_flush)

    def _gated(self) -> bool:
        """True while the front end has ``max_in_flight`` updates still to draw."""
        return self._acked_once and len(self._in_flight) >= self.max_in_flight

    def _scheduled_flush(self) -> None:
        self._handle = None
        if self._dirty and not self._closed and not self._gated():
            self.flush()

    def flush(self) -> None:
        """Redraw now with everything received so far (one batched update of whole arrays).

        Sends even when updates are in flight (an explicit request); the throttled redraws wait for the front end.
        """
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        started = _time.perf_counter()
        now = _time.monotonic()
        token = self._send()
        if token is not None:
            self._last_token = token
            self._in_flight.append((token, now, self._unsent_since if self._unsent_since is not None else now))
            while len(self._in_flight) > max(self.max_in_flight, 64):
                self._in_flight.popleft()  # no view has ever answered: keep the record bounded
        self._unsent_since = None
        self._dirty = False
        self._last_flush = now
        self.flushes += 1
        self.last_flush_seconds = _time.perf_counter() - started
        if self._acked_once and self._loop is not None:
            self._arm_watchdog(self._loop)

    _COLUMNS = ("wall", "open", "high", "low", "close", "volume", "upper", "lower")

    def _send(self) -> int | None:
        """Send an update to the front end; return the token its acknowledgement will carry."""
        raise NotImplementedError

    def _delta(self) -> tuple[dict, bytes]:
        """The next update (protocol: ``static/deltas.js``): only the rows appended or revised and the markers added
        since the previous one, or the whole window when a view needs it. Rows are 8 float64 columns with
        wall-clock epoch milliseconds (the view's time axis); no strings."""
        ring = self._ring
        full = self._need_full
        if full:
            start, replace = ring.first, 0
            fresh = list(self._signals)
        else:
            start = self._sent_rows if ring.revised is None else min(self._sent_rows, ring.revised)
            start = max(start, ring.first)
            replace = max(0, self._sent_rows - start)
            count = self.signals_received - self._sent_signals
            fresh = list(self._signals)[-count:] if count > 0 else []
        block = ring.rows(start, self._COLUMNS)
        block[0] *= 1000.0
        oldest = ring.t[ring.first % ring.capacity] if ring.size else float("inf")
        markers = [[wall * 1000.0, price, 1 if d == "up" else 0]
                   for (epoch, wall, d, price) in fresh if epoch >= oldest]
        self._seq += 1
        content = {"type": "bk-full" if full else "bk-delta", "seq": self._seq, "base": self._seq - 1,
                   "replace": replace, "n": block.shape[1], "window": self.window, "markers": markers,
                   "note": self._status_note(), "stopped": self.stopped}
        payload = np.ascontiguousarray(block, dtype="<f8").tobytes()
        self.messages_sent += 1
        self.bytes_sent += len(payload)
        self.last_message = content
        self._need_full = False
        self._sent_rows = ring.appended
        ring.revised = None
        self._sent_signals = self.signals_received
        self._n_bars = ring.size
        self._n_markers = sum(1 for sig in self._signals if sig[0] >= oldest)
        return content, payload

    def _lost(self) -> None:
        """No acknowledgement for ``resend_after`` seconds: the next update must stand on its own."""
        self._need_full = True

    def _hello_from_any_thread(self) -> None:
        """A view has nothing (new view, page reload, a lost update): send the whole window, on the kernel's loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._hello()
        else:
            loop.call_soon_threadsafe(self._hello)

    def _hello(self) -> None:
        if not self._closed:
            self._need_full = True
            self.flush()

    @property
    def n_bars(self) -> int:
        """Candles in the view (after the latest update)."""
        return self._n_bars

    @property
    def n_markers(self) -> int:
        """Breakout markers in the view (up + down, after the latest update)."""
        return self._n_markers

    # ---- acknowledgements from the front end -------------------------------------------------------------
    def _ack_from_any_thread(self, token: int) -> None:
        """Called by the widget's comm handler, possibly on a kernel subshell thread: hand over to the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop and threading.current_thread() is threading.main_thread():
            self.ack(token)
        else:
            loop.call_soon_threadsafe(self.ack, token)

    def ack(self, token: int) -> None:
        """The front end has drawn the update ``token`` (and so every earlier one): release the next update."""
        if self._closed:
            return
        self.acks += 1
        self._acked_once = True
        while self._in_flight and self._in_flight[0][0] <= token:
            self._in_flight.popleft()
        self._update_stale()
        if self._dirty and self._handle is None and not self._gated():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            delay = max(0.0, self._last_flush + self.throttle - _time.monotonic())
            self._handle = loop.call_later(delay, self._scheduled_flush)

    @property
    def lag_s(self) -> float:
        """Seconds the oldest data not yet drawn by the browser has waited (0 when the view is up to date).

        Counted only once a view has acknowledged a draw: a chart nobody displays is not behind.
        """
        if not self._acked_once:
            return 0.0
        waiting = [entry[2] for entry in self._in_flight]
        if self._unsent_since is not None:
            waiting.append(self._unsent_since)
        return max(0.0, _time.monotonic() - min(waiting)) if waiting else 0.0

    @property
    def stale(self) -> bool:
        """True while the view is more than ``stale_after`` seconds behind the kernel's newest bar."""
        return self._stale

    @property
    def in_flight(self) -> int:
        """Updates sent to the front end and not yet acknowledged."""
        return len(self._in_flight)

    def _update_stale(self) -> None:
        stale = self.lag_s > self.stale_after
        if stale != self._stale:
            self._stale = stale
            self.stale_event.emit(self, stale)

    def _arm_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._watchdog is None and not self._closed:
            self._watchdog = loop.call_later(min(0.5, self.stale_after / 2), self._check)

    def _check(self) -> None:
        """While something waits to be drawn: update the stale flag; after ``resend_after`` seconds without an ack
        assume the update was lost (view closed, page reloaded, message dropped) and send the window again."""
        self._watchdog = None
        if self._closed:
            return
        self._update_stale()
        now = _time.monotonic()
        if self._in_flight and now - self._in_flight[-1][1] > self.resend_after:
            self._in_flight.clear()  # keeps lag_s: the unsent data's age still counts below
            self._dirty = True
            self._lost()
            self.flush()
        elif self._dirty and self._handle is None and not self._gated():
            self._handle = self._loop.call_later(0, self._scheduled_flush) if self._loop else None
        if self._in_flight or self._dirty:
            if self._loop is not None:
                self._arm_watchdog(self._loop)
        elif self._stale:
            self._update_stale()

    def _status_note(self) -> str:
        """The note a view shows next to the title: stopped, or how far behind it was."""
        notes = []
        if self.stopped:
            notes.append("■ stopped")
        lag = self.lag_s
        if lag > self.stale_after:
            notes.append(f"⚠ view is {lag:.0f} s behind")
        return " · ".join(notes)

    # ---- introspection ---------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def close(self) -> None:
        """Release everything: unsubscribe from the watcher, cancel pending redraws and close the widget (its views
        disappear). Remove ``chart.widget`` from its container first when it is in one."""
        if self._closed:
            return
        self._closed = True
        for handle in (self._handle, self._watchdog):
            if handle is not None:
                handle.cancel()
        self._handle = self._watchdog = None
        self._in_flight.clear()
        self.watcher.bar_event.disconnect(self._on_bar)
        self.watcher.signal_event.disconnect(self._on_signal)
        if self._state_event is not None:
            self._state_event.disconnect(self._on_state)
        self._close_widget()

    @property
    def closed(self) -> bool:
        return self._closed

    def _close_widget(self) -> None:
        raise NotImplementedError

    def _build(self, title: str, height: int, show_volume: bool, compact: bool) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.watcher.symbol!r}, window={self.window}, "
                f"bars={self._ring.size}, flushes={self.flushes})")


class LiveChart(StreamingChart):
    """Live candlestick chart of one watcher (Plotly): candles, channel, breakout markers, volume.

    ``LiveChart(watcher, window=500, throttle=0.3, *, height=420, title=None, tz=None, show_volume=True,
    compact=False, width=None, max_in_flight=1, stale_after=2.0, resend_after=10.0)``; display it in a cell (or put
    ``chart.widget`` in a layout). ``chart.flush()`` forces a redraw now; ``chart.close()`` unsubscribes from the
    watcher. Times are shown in the bars' own time zone unless ``tz`` (a ``zoneinfo.ZoneInfo`` or name) is given.

    The view is our own front end (``static/livechart.js``, plotly.js loaded once per page). An update carries only
    what changed since the previous one: new bars, the revised last bar, new markers, as float64 columns with
    wall-clock epoch milliseconds; a view that (re)connects asks for the whole window. Each view acknowledges the
    update it has drawn.
    """

    def _build(self, title: str, height: int, show_volume: bool, compact: bool) -> None:
        from breakout_kit.notebook.plotly_view import PlotlyView
        from breakout_kit.notebook.plots import live_spec

        self.spec = live_spec(title=title, height=height, compact=compact, width=self.width,
                              show_volume=show_volume)
        self.view = PlotlyView(spec=self.spec, window=self.window, symbol=str(self.watcher.symbol))
        self.view.on_ack = self._ack_from_any_thread
        self.view.on_hello = self._hello_from_any_thread

    @property
    def widget(self):
        """The ipywidget to place in a layout."""
        return self.view

    def _repr_mimebundle_(self, **kwargs):
        return self.view._repr_mimebundle_(**kwargs)

    def _close_widget(self) -> None:
        self.view.close()

    def _send(self) -> int | None:
        content, payload = self._delta()
        self.view.queue(content, payload)
        return content["seq"]


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (IPython's kernel shell), without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _preload_plotly_in_kernel() -> bool:
    """In a notebook the charts are imported in one of the first cells (``from breakout_kit import *``): start
    plotly.js (1.3 MB) on its way to the page then, so the page evaluates it while the notebook connects and
    backfills, not while the first chart waits for it (issue 26: that wait was 1.6-1.9 s of the 4.3 s to the first
    Plotly chart). Returns whether it did."""
    if not _in_kernel():
        return False
    from breakout_kit.notebook.plotly_view import preload

    preload()
    return True


_preload_plotly_in_kernel()
