"""BreakoutWatcher: an awaitable, event-driven breakout watcher for one symbol on the running asyncio loop.

Flow: qualify -> backfill history -> subscribe once to 5-second real-time bars -> build ``bar_size`` bars ->
``BreakoutDetector`` -> events. Nothing polls: the watcher's task waits on a queue that the bar stream fills.

Exactness: a bar is delivered only when complete, in time order, never twice and never skipped. Whenever the next
live bar is not the direct successor of the last delivered one (subscription started mid-bar, a reconnect, error
1101), the missing bars are fetched from history first. Signals found while replaying the initial backfill are
history (``signal_event`` fires for them, flagged by ``state == "backfilling"``); only later signals call
``on_signal`` and place orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pandas as pd

from breakout_kit.client.events import Event
from breakout_kit.core.bars import BarAggregator, bar_seconds, live_bar_size, whole_numbers
from breakout_kit.core.breakout import Bar, BreakoutDetector, BreakoutRule, Signal

NEW_YORK = ZoneInfo("America/New_York")  # refused-bracket messages show New York time, like SIGNAL lines
log = logging.getLogger("breakout_kit.watch.watcher")

STATES = ("starting", "backfilling", "live", "reconnecting", "stopped", "failed")
MAX_SIGNALS = 1_000  # the most recent signals kept (memory stays flat on endless streams)
MAX_BARS = 10_000_000  # largest max_bars window accepted
RETRY_ATTEMPTS = 3  # a request (start-up, bracket) interrupted by a disconnect is retried after the reconnect
_COLUMNS = ["open", "high", "low", "close", "volume", "upper", "lower"]


@dataclass(frozen=True)
class TradeSpec:
    """What to buy on each up-breakout: a bracket of ``quantity`` shares with TP/SL percentages."""

    quantity: int
    take_profit_pct: float
    stop_loss_pct: float

    def __post_init__(self):
        q = self.quantity
        if isinstance(q, bool) or not isinstance(q, int) or q <= 0:
            raise ValueError(f"quantity must be a positive whole number of shares, got {q!r}")
        for name in ("take_profit_pct", "stop_loss_pct"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and 0 < v < 100):
                raise ValueError(f"{name} must be between 0 and 100 (exclusive), got {v!r}")


_REF_TZ = ZoneInfo("America/New_York")  # refs sit beside order tables shown in exchange time: the same clock


def order_ref_for(symbol: str, signal: Signal) -> str:
    """The bracket's orderRef for a signal: the same signal always maps to the same ref (no duplicate orders).

    The time in it is the signal's New York wall-clock time, like every other time the notebooks show.
    """
    when = signal.time.astimezone(_REF_TZ) if signal.time.tzinfo is not None else signal.time
    return f"bk-{symbol}-{when:%Y%m%dT%H%M%S}-{signal.direction}"


class _Failed:
    """Queued by the stream callback when delivering a bar raised: the watcher's task re-raises it."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class BreakoutWatcher:
    """Watch ``symbol`` for breakouts of ``rule`` on ``bar_size`` bars.

    ``start()`` creates the watcher's task on the running loop and returns it; ``await watcher`` waits for it
    (returns after ``stop()``, raises the error if the watcher failed); ``stop()`` ends it and cancels its
    subscriptions. Events (eventkit): ``bar_event(watcher, bar, channel)``, ``signal_event(watcher, signal)``,
    ``state_event(watcher, state)``. ``on_signal(watcher, signal)`` may be a function or a coroutine function.
    """

    def __init__(self, client, symbol: str, rule: BreakoutRule | None = None, bar_size: str = "1 min",
                 backfill: str = "1 D", on_signal: Callable | None = None, trade: TradeSpec | None = None,
                 max_bars: int = 500) -> None:
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValueError(f"symbol must be a non-empty string, got {symbol!r}")
        if rule is not None and not isinstance(rule, BreakoutRule):
            raise TypeError(f"rule must be a BreakoutRule, got {type(rule).__name__}")
        if trade is not None and not isinstance(trade, TradeSpec):
            raise TypeError(f"trade must be a TradeSpec, got {type(trade).__name__}")
        # capped: deque(maxlen=2**63) raises OverflowError (found by tests/reliability/test_api_arguments.py)
        if isinstance(max_bars, bool) or not isinstance(max_bars, int) or not 1 <= max_bars <= MAX_BARS:
            raise ValueError(f"max_bars must be a positive integer <= {MAX_BARS:_}, got {max_bars!r}")
        if on_signal is not None and not callable(on_signal):
            raise TypeError("on_signal must be callable")
        self.client = client
        self.symbol = symbol.strip().upper()
        self.rule = rule or BreakoutRule()
        self.bar_size = live_bar_size(bar_size)       # "5m" -> "5 mins"; one message for every front end
        self.seconds = bar_seconds(self.bar_size)
        self.backfill = backfill
        self.on_signal = on_signal
        self.trade = trade
        self.max_bars = max_bars
        self.detector = BreakoutDetector(self.rule)
        self.state = "starting"
        self.error: BaseException | None = None
        self._last_bar: Bar | tuple | None = None     # a tuple of its fields until someone asks (last_bar)
        self.trade_errors: list[str] = []
        self.orders: list[list] = []
        self.gap_fills = 0            #: bars recovered from history after the stream missed them
        self.bar_event = Event("bar")
        self.signal_event = Event("signal")
        self.state_event = Event("state")
        self._window: deque[tuple] = deque(maxlen=max_bars)
        self._signals: deque[Signal] = deque(maxlen=MAX_SIGNALS)
        self._last_time: int | None = None            # POSIX start of the last delivered bar
        self._replaying = True                        # replaying the first backfill
        self._aggregator = BarAggregator(self.seconds)
        self._queue: asyncio.Queue[Bar | _Failed | None] = asyncio.Queue()
        self._busy = False                            # the task is filling a gap from history
        self._deferred = False                        # the last live bar's detector update waits for the burst
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._contract = None
        self._subscription = None
        self._side_tasks: set[asyncio.Task] = set()

    # ---- public -----------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<BreakoutWatcher {self.symbol} {self.bar_size} {self.state} bars={self.bars_seen}>"

    @property
    def replaying(self) -> bool:
        """True until the first backfill has been replayed: signals found then are history (never traded, and
        views should not announce them); everything after, gap fills after a reconnect included, is live."""
        return self._replaying

    @property
    def last_bar(self) -> Bar | None:
        """The last complete bar delivered (live: as soon as its signals are acted on, else after its burst)."""
        bar = self._last_bar
        if bar is not None and not isinstance(bar, Bar):
            bar = self._last_bar = Bar(*bar)
        return bar

    @property
    def bars_seen(self) -> int:
        """Bars delivered so far (all of them; ``bars`` keeps the last ``max_bars``)."""
        _flush_after_burst()          # the live path's deferred bookkeeping first: bars and bars_seen agree
        return self.detector.bars_seen

    @property
    def signals(self) -> list[Signal]:
        return list(self._signals)

    @property
    def bars(self) -> pd.DataFrame:
        """The most recent ``max_bars`` bars with the channel that applied to each (UTC index ``time``), up to the
        last bar delivered (bookkeeping the live path deferred to the end of the burst is done first)."""
        _flush_after_burst()
        if not self._window:
            return pd.DataFrame(columns=_COLUMNS, index=pd.DatetimeIndex([], tz="UTC", name="time"), dtype=float)
        times, *cols = zip(*self._window, strict=True)
        index = pd.DatetimeIndex(pd.to_datetime(list(times), unit="s", utc=True), name="time")
        frame = pd.DataFrame(dict(zip(_COLUMNS, cols, strict=True)), index=index)
        frame["volume"] = whole_numbers(frame["volume"])  # share counts: 120100, not 120100.0
        return frame

    @property
    def task(self) -> asyncio.Task | None:
        return self._task

    @property
    def subscription_id(self) -> int | None:
        """Request id of the live real-time bar subscription on the client's connection (None when not subscribed)."""
        sub = self._subscription
        return sub.req_id if sub is not None else None

    def feed(self, bar: Bar) -> None:
        """Feed one complete ``bar_size`` bar as the stream would (replays, tests, benchmarks): detector, window,
        events (``on_signal`` and trades only once live, see ``replaying``); a bar not after the last one is ignored."""
        self._deliver(bar)

    def start(self) -> asyncio.Task:
        """Create the watcher's task on the running loop (idempotent) and return it."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"watcher {self.symbol}")
            # the failure is kept in .error and re-raised by ``await watcher``; don't also log it as "never retrieved"
            self._task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._task

    def __await__(self):
        return self.start().__await__()

    def stop(self) -> None:
        """End the watcher (idempotent): cancels its task and subscriptions; ``await watcher`` then returns."""
        self._stopping = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        elif self._task is None:
            self._set_state("stopped")

    async def aclose(self) -> None:
        """``stop()`` and wait until the watcher has cleaned up."""
        self.stop()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
        for t in list(self._side_tasks):
            t.cancel()
        if self._side_tasks:
            await asyncio.gather(*self._side_tasks, return_exceptions=True)

    # ---- the task ---------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        client = self.client
        try:
            self._contract = await self._until_answered(lambda: client.qualify(self.symbol))
            self._raise_if_stopping()
            self._set_state("backfilling")
            frame = await self._until_answered(
                lambda: client.history(self._contract, duration=self.backfill, bar_size=self.bar_size))
            self._raise_if_stopping()
            # The last history bar may still be forming: leave it out. If it was complete after all, the gap
            # fill before the first live bar fetches it again (that fill is needed anyway for the partial bar the
            # stream joins in), so nothing is lost and no server-time request is needed.
            for bar in _frame_bars(frame)[:-1]:
                self._deliver(bar)
            self._replaying = False
            client.resubscribe_event += self._on_resubscribe
            client.state_event += self._on_client_state
            try:
                self._subscribe()
            except ConnectionError:
                if not getattr(client, "reconnect", False):
                    raise
                self._subscription = None           # dropped just now: the reconnect's resubscribe_event subscribes
            self._set_state("live")
            while True:
                bar = await self._queue.get()
                if bar is None:                                  # resubscribed: the next bar will fill the gap
                    continue
                if isinstance(bar, _Failed):                     # _deliver raised inside the stream callback
                    raise bar.error
                self._busy = True
                try:
                    await self._catch_up_to(bar)
                except ConnectionError:
                    if not getattr(client, "reconnect", False):
                        raise
                    # dropped mid gap fill: nothing was delivered; the first bar after the reconnect fills the
                    # whole gap (this one included) from history
                    log.info("watcher %s: connection lost during gap fill; waiting for the reconnect", self.symbol)
                    continue
                finally:
                    self._busy = False
                self._deliver(bar)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            self._set_state("stopped")
        except Exception as e:
            self.error = e
            log.warning("watcher %s failed: %s", self.symbol, e)
            self._set_state("failed")
            raise
        finally:
            self._unsubscribe()
            client.resubscribe_event -= self._on_resubscribe
            client.state_event -= self._on_client_state

    def _raise_if_stopping(self) -> None:
        """Stop here if ``stop()`` came while awaiting the client: on 3.11, ``asyncio.wait_for`` (which ib_insync
        uses for history) loses a cancel that arrives in the loop turn its answer does, and returns the answer."""
        if self._stopping:
            raise asyncio.CancelledError

    def _subscribe(self) -> None:
        self._aggregator.reset()
        self._subscription = self.client.subscribe_bars(self._contract)
        self._subscription.on_fields = self._on_fields

    def _unsubscribe(self) -> None:
        sub, self._subscription = self._subscription, None
        if sub is not None:
            sub.on_fields = None
            sub.cancel()

    def _on_piece(self, piece: Bar) -> None:
        """A 5-second bar arrived as a ``Bar`` (as ``RealTimeBars.bar_event`` emits it)."""
        self._on_fields(int(piece.time.timestamp()), piece.open, piece.high, piece.low, piece.close, piece.volume)

    def _on_fields(self, time: int, o: float, h: float, low: float, c: float, v: float) -> None:
        """A 5-second bar arrived (the subscription's ``on_fields``): aggregate; deliver a completed bar.

        The common case (the bar right after the last delivered one, nothing queued, no gap fill running) is
        delivered here in the stream callback: no task switch, no ``Bar`` object before the detector has spoken,
        so a signal follows the bar message within microseconds. Anything else (a gap to fill from history
        first) goes through the watcher's task in order.
        """
        aggregator = self._aggregator
        start = aggregator.push(time, o, h, low, c, v)
        if start is None:
            return
        last = self._last_time
        if self._busy or last is None or start != last + self.seconds or not self._queue.empty():
            self._queue.put_nowait(Bar(datetime.fromtimestamp(start, timezone.utc), *aggregator.completed))
            return
        # The stream's next bar. A bar that can signal goes through the detector and on_signal (and the bracket)
        # now; a bar that cannot (can_signal: most bars) has its detector update done once the loop has handled the
        # whole burst of messages. The window, last_bar and the view events of every bar wait for the burst's end
        # too. So a signal waits behind a cheap price check per watcher ahead of it, not their detector updates.
        self._last_time = start
        fields = aggregator.completed
        if self._deferred:                  # this watcher's previous bar still waits for its update
            _flush_after_burst()
        if not self.detector.can_signal(fields[1], fields[2], fields[3]):
            _after_burst(self, start, fields, None, None)
            self._deferred = True
            return
        try:
            self._signal_live(start, fields)
        except Exception as e:  # noqa: BLE001  (fail the watcher's task, as the queued path would)
            self._queue.put_nowait(_Failed(e))

    def _signal_live(self, t: int, fields: tuple) -> None:
        """A live bar that can signal: the detector and ``on_signal`` now, ``on_signal`` seeing ``last_bar`` and
        ``signals`` up to date; the window row and the view events after the burst."""
        bar, signals = self._update_live(t, fields)
        _after_burst(self, t, bar, self.detector.channel, signals)  # queued first: on_signal may read bars
        if signals:
            self._emit_live(bar, signals)

    def _take_live(self, t: int, fields: tuple) -> tuple:
        """The detector update of a live bar ``can_signal`` ruled out, after its burst: the bar (time and fields)
        and the detector's channel and signals (none; any the update finds anyway are acted on now)."""
        self._deferred = False
        bar, signals = self._update_live(t, fields)
        if signals:
            self._emit_live(bar, signals)
        return bar, self.detector.channel, signals

    def _update_live(self, t: int, fields: tuple) -> tuple[tuple, list[Signal]]:
        """The detector update of the live bar starting at ``t``: the bar (its time and fields) and its signals."""
        when = datetime.fromtimestamp(t, timezone.utc)
        o, h, low, c, v = fields
        return (when, o, h, low, c, v), self.detector.update_values(when, o, h, low, c, float(v))

    def _emit_live(self, bar: Bar | tuple, signals: list[Signal]) -> None:
        self._last_bar = bar
        self._signals.extend(signals)
        if not self._replaying:
            for signal in signals:
                self._act_on(signal)

    def _on_resubscribe(self) -> None:
        if self._subscription is not None:
            self._subscription.on_fields = None
            self._subscription.detach()  # its request id died with the old connection: never cancel it
            self._subscription = None
        self._set_state("reconnecting")
        self._subscribe()
        self._queue.put_nowait(None)
        self._set_state("live")

    def _on_client_state(self, state: str) -> None:
        if state == "reconnecting":
            self._set_state("reconnecting")
        elif state == "connected" and self.state == "reconnecting" and self._subscription is not None:
            self._set_state("live")              # 1102: TWS kept our subscriptions

    async def _catch_up_to(self, bar: Bar) -> None:
        """Deliver from history every complete bar between the last delivered one and ``bar``."""
        t = int(bar.time.timestamp())
        if self._last_time is None or t <= self._last_time + self.seconds:
            return
        start = self._last_time + self.seconds
        span = t - start
        duration = f"{span} S" if span <= 86_400 else f"{math.ceil(span / 86_400)} D"
        end = datetime.fromtimestamp(t, timezone.utc)
        frame = await self.client.history(self._contract, duration=duration, bar_size=self.bar_size, end=end)
        self._raise_if_stopping()
        for missing in _frame_bars(frame):
            if start <= missing.time.timestamp() < t:
                self.gap_fills += 1
                self._deliver(missing)

    def _deliver(self, bar: Bar) -> None:
        """Feed one complete bar to the detector and emit events (also the entry point for tests/benchmarks)."""
        t = int(bar.time.timestamp())
        if self._last_time is not None and t <= self._last_time:
            return                                   # already delivered (history overlapping the stream)
        _flush_after_burst()                         # the stream's bars deferred so far first: events in time order
        self._last_time = t
        signals = self.detector.update(bar)
        self._signals.extend(signals)
        self._record(t, bar, self.detector.channel, signals)
        if not self._replaying:
            for signal in signals:
                self._act_on(signal)

    def _record(self, t: int, bar: Bar | tuple, channel, signals: list[Signal]) -> None:
        """The bookkeeping of one delivered bar (a ``Bar``, or its fields): window row, ``last_bar``, events."""
        if not isinstance(bar, Bar):
            bar = Bar(*bar)
        self._last_bar = bar
        upper, lower = channel if channel is not None else (math.nan, math.nan)
        self._window.append((t, bar.open, bar.high, bar.low, bar.close, float(bar.volume), upper, lower))
        self.bar_event.emit(self, bar, channel)
        for signal in signals:
            self.signal_event.emit(self, signal)

    def _act_on(self, signal: Signal) -> None:
        if self.on_signal is not None:
            try:
                result = self.on_signal(self, signal)
                if result is not None and inspect.isawaitable(result):   # (isawaitable of None: 0.4 µs)
                    self._spawn(result, f"on_signal {self.symbol}")
            except Exception:
                log.exception("on_signal callback failed for %s", self.symbol)
        if self.trade is not None and signal.direction == "up":
            self._spawn(self._place_bracket(signal), f"bracket {self.symbol}")

    def _spawn(self, coro, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_done)

    def _side_done(self, task: asyncio.Task) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed: %s", task.get_name(), task.exception())

    async def _place_bracket(self, signal: Signal) -> None:
        spec = self.trade
        try:
            # a drop while preparing the bracket (price snapshot, ...) is retried once the client is back; the
            # orderRef makes a retry return a bracket that did reach TWS instead of sending it twice
            trades = await self._until_answered(
                lambda: self.client.place_buy_bracket_pct_async(
                    self.symbol, spec.quantity, spec.take_profit_pct, spec.stop_loss_pct,
                    order_ref=order_ref_for(self.symbol, signal)),
                what=f"placing the bracket for {signal.time.astimezone(NEW_YORK):%H:%M}")
        except Exception as e:  # noqa: BLE001 -- a refused order must not kill the watcher; keep the reason
            # New York time, like the SIGNAL line it follows (bar times are UTC)
            message = f"{signal.time.astimezone(NEW_YORK):%Y-%m-%d %H:%M} {self.symbol}: {e}"
            self.trade_errors.append(message)
            log.warning("bracket not placed: %s", message)
            return
        self.orders.append(trades)

    async def _until_answered(self, request, what: str = "starting"):
        """``await request()``; when the connection drops meanwhile, wait for the client's reconnect and ask again
        (a watcher started during an outage, or dropped mid-backfill or mid-bracket, must not fail for it)."""
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return await request()
            except ConnectionError:
                if attempt == RETRY_ATTEMPTS or not getattr(self.client, "reconnect", False) \
                        or not await self._reconnected():
                    raise
                log.info("watcher %s: connection lost while %s; asking again after the reconnect",
                         self.symbol, what)

    async def _reconnected(self) -> bool:
        """Wait (bounded) until the client is connected again; False if it is not."""
        client = self.client
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3 * getattr(client, "timeout", 10.0)
        while not (client.connected and client.state == "connected"):
            left = deadline - loop.time()
            if left <= 0 or client.state in ("closed", "disconnected"):
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(client.state_event, left)
        return True

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_event.emit(self, state)


# The live bars of every watcher on the loop, (watcher, t, bar, channel, signals), finished once the current burst of
# socket messages has been handled (one ``call_soon`` per burst, not one per watcher). ``signals`` None: the bar's
# detector update is still to do (``bar`` holds its fields, ``channel`` nothing yet).
_DEFERRED: list[tuple] = []


def _after_burst(watcher: BreakoutWatcher, t: int, bar: tuple, channel, signals: list[Signal] | None) -> None:
    if not _DEFERRED:
        asyncio.get_running_loop().call_soon(_flush_after_burst)
    _DEFERRED.append((watcher, t, bar, channel, signals))


def _flush_after_burst() -> None:
    """Finish every live bar of the burst just handled: the deferred detector updates, then window row,
    ``last_bar`` and view events."""
    if not _DEFERRED:
        return
    batch = _DEFERRED[:]
    _DEFERRED.clear()
    for watcher, t, bar, channel, signals in batch:
        if signals is None:                  # its detector update was deferred too (can_signal ruled it out)
            try:
                bar, channel, signals = watcher._take_live(t, bar)
            except Exception as e:  # noqa: BLE001  (a bad bar fails that watcher's task, as the queued path would)
                watcher._queue.put_nowait(_Failed(e))
                continue
        try:
            watcher._record(t, bar, channel, signals)
        except Exception:  # a view's handler failed: the other watchers' bookkeeping still runs
            log.exception("bar bookkeeping failed for %s", watcher.symbol)


def _frame_bars(frame: pd.DataFrame) -> list[Bar]:
    """History DataFrame (IBClient.history) -> Bars in time order."""
    if frame is None or frame.empty:
        return []
    idx = frame.index
    return [Bar(t.to_pydatetime(), o, h, lo, c, v) for t, o, h, lo, c, v in zip(
        idx, frame["open"].tolist(), frame["high"].tolist(), frame["low"].tolist(), frame["close"].tolist(),
        frame["volume"].tolist(), strict=True)]


__all__ = ["STATES", "BreakoutWatcher", "TradeSpec", "order_ref_for"]
