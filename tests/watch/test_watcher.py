"""BreakoutWatcher against the embedded gateway with the real IB client: live detection of a planted breakout,
exact bars (== the gateway's own history), several watchers from inside a running loop, clean stop, failures,
reconnect with no lost or duplicated bars/signals, and trading on signals (at most one bracket each)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from breakout_kit.client.ib_client import ContractError, IBClient
from breakout_kit.core.bars import Bar
from breakout_kit.core.breakout import BreakoutRule, Signal, scan
from breakout_kit.gateway import PaperGateway
from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec, order_ref_for

pytestmark = pytest.mark.ib

SPEED = 600.0  # 10 simulated minutes per real second
SESSION_OPEN = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("America/New_York"))   # as tests/conftest.py


@pytest.fixture
async def fast_gateway():
    async with PaperGateway(port=0, seed=0, speed=SPEED, start=SESSION_OPEN, pacing="off") as gw:
        yield gw


@pytest.fixture
async def client(fast_gateway, client_id):
    async with IBClient(port=fast_gateway.port, client_id=client_id, clock_speed=SPEED,
                        reconnect_delays=(0.05,)) as c:
        yield c


async def until(event, predicate, timeout=20.0):
    """Await emissions of an eventkit ``event`` until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError("timed out waiting for the watcher")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event, left)


def truth_frame(gw, symbol, index):
    """The gateway's own 1-minute bars over the span of ``index``."""
    first, last = index[0].to_pydatetime(), index[-1].to_pydatetime()
    bars = gw.history(symbol, 60, first, last + timedelta(minutes=1))
    return pd.DataFrame({"open": [b.open for b in bars], "high": [b.high for b in bars],
                         "low": [b.low for b in bars], "close": [b.close for b in bars],
                         "volume": [int(b.volume) for b in bars]},  # share counts stay integers
                        index=pd.DatetimeIndex(pd.to_datetime([b.time for b in bars], unit="s", utc=True),
                                               name="time"))


def assert_bars_exact(watcher, gw):
    got = watcher.bars[["open", "high", "low", "close", "volume"]]
    pd.testing.assert_frame_equal(got, truth_frame(gw, watcher.symbol, got.index), check_freq=False)


async def test_detects_planted_breakout_live_with_exact_bars(fast_gateway, client):
    gw = fast_gateway
    planted = gw.market.plant_breakout("MSFT", gw.now().replace(second=0, microsecond=0) + timedelta(minutes=8),
                                       size_pct=1.5)
    live_signals = []
    w = BreakoutWatcher(client, "MSFT", rule=BreakoutRule(lookback=20), max_bars=2000,
                        on_signal=lambda watcher, s: live_signals.append(s))
    seen = []  # (signal, replaying) as views see them
    w.signal_event += lambda watcher, s: seen.append((s, watcher.replaying))
    assert w.replaying
    task = w.start()
    assert isinstance(task, asyncio.Task) and w.start() is task
    await until(w.signal_event, lambda: any(s.time == planted for s in live_signals))
    assert w.state == "live" and w.error is None and not w.replaying
    # on_signal (and trading) got exactly the signals not flagged as backfill replays
    assert [sig for sig, replaying in seen if not replaying] == live_signals
    # every bar the watcher holds equals the gateway's history; signals equal scan() over those bars
    assert_bars_exact(w, gw)
    expected = scan(w.bars.reset_index(), w.rule)
    assert [(s.time, s.direction) for s in w.signals] == \
           [(t.to_pydatetime(), d) for t, d in zip(expected["time"], expected["direction"], strict=True)]
    w.stop()
    await w
    assert w.state == "stopped"


async def test_several_watchers_from_a_running_loop_and_clean_stop(client):
    states = []
    watchers = [BreakoutWatcher(client, s) for s in ("AAPL", "SPY", "QQQ", "NVDA")]
    for w in watchers:
        w.state_event += lambda watcher, state: states.append((watcher.symbol, state))
        w.start()
    for w in watchers:
        await until(w.bar_event, lambda w=w: w.state == "live" and w.bars_seen > 100)
    assert {s for s, st in states if st == "live"} == {"AAPL", "SPY", "QQQ", "NVDA"}
    subs = len(client.ib.realtimeBars())
    assert subs == 4                                  # subscribed once each
    await asyncio.gather(*(w.aclose() for w in watchers))
    assert all(w.state == "stopped" for w in watchers)
    assert client.ib.realtimeBars() == []             # subscriptions cancelled
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("watcher ")]


async def test_subscription_id_names_the_live_stream(client):
    w = BreakoutWatcher(client, "AAPL")
    assert w.subscription_id is None
    w.start()
    await until(w.bar_event, lambda: w.state == "live")
    assert w.subscription_id in {bars.reqId for bars in client.ib.realtimeBars()}
    await w.aclose()
    assert w.subscription_id is None


def test_feed_delivers_a_bar_as_the_stream_would():
    w = BreakoutWatcher(client=None, symbol="SYN", rule=BreakoutRule(lookback=2))
    t0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    seen = []
    w.bar_event += lambda watcher, bar, channel: seen.append(bar)
    bars = [Bar(t0 + timedelta(minutes=k), 10, 10.5, 9.5, 10, 100) for k in range(3)]
    bars.append(Bar(t0 + timedelta(minutes=3), 10, 12, 10, 11.5, 100))
    for bar in bars:
        w.feed(bar)
    w.feed(bars[1])                                   # not after the last one: ignored
    assert seen == bars and w.bars_seen == 4
    assert [s.direction for s in w.signals] == ["up"]


async def test_unknown_symbol_fails_and_await_raises(client):
    w = BreakoutWatcher(client, "ZZZZQ")
    failed = []
    w.state_event += lambda watcher, state: failed.append(state)
    w.start()
    with pytest.raises(ContractError, match="ZZZZQ"):
        await w
    assert w.state == "failed" and isinstance(w.error, ContractError)
    assert failed == ["failed"]


async def test_window_is_bounded(client):
    w = BreakoutWatcher(client, "IWM", max_bars=50)
    w.start()
    await until(w.bar_event, lambda: w.state == "live")
    assert w.bars_seen > 50 and len(w.bars) == 50
    assert w.bars.index.is_monotonic_increasing and w.bars.index.is_unique
    await w.aclose()


async def test_reconnect_loses_and_duplicates_nothing(fast_gateway, client):
    gw = fast_gateway
    w = BreakoutWatcher(client, "AMZN", max_bars=5000)
    delivered = []
    w.bar_event += lambda watcher, bar, channel: delivered.append(bar.time)
    w.start()
    await until(w.bar_event, lambda: w.state == "live" and w.bars_seen > 0)
    for _ in range(3):
        seen = len(delivered)
        gw.session_for(client.client_id).writer.transport.abort()   # drop the connection under the watcher
        await until(client.resubscribe_event, lambda: client.reconnects > 0 and client.connected)
        await until(w.bar_event, lambda seen=seen: len(delivered) > seen + 5)
    assert client.reconnects == 3
    assert len(delivered) == len(set(delivered))                # never twice
    steps = {b - a for a, b in itertools.pairwise(delivered)}
    assert steps == {timedelta(minutes=1)}                      # never skipped
    assert w.gap_fills > 0                                      # the outages really cost live bars
    assert_bars_exact(w, gw)
    await w.aclose()


async def test_resubscribe_after_1101_keeps_bars_exact(fast_gateway, client):
    gw = fast_gateway
    w = BreakoutWatcher(client, "META", max_bars=5000)
    w.start()
    await until(w.bar_event, lambda: w.state == "live")
    subs_before = client.ib.realtimeBars()
    session = gw.session_for(client.client_id)
    session.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")
    session.error(-1, 1101, "Connectivity between IB and TWS has been restored - data lost.")
    n = w.bars_seen
    await until(w.bar_event, lambda: w.bars_seen > n + 5)
    assert w.state == "live"
    assert client.ib.realtimeBars() and client.ib.realtimeBars() != subs_before   # a fresh subscription
    times = list(w.bars.index)
    assert len(times) == len(set(times))
    assert_bars_exact(w, gw)
    await w.aclose()


async def test_trading_disabled_records_error_and_keeps_watching(client):
    w = BreakoutWatcher(client, "TSLA", trade=TradeSpec(10, 2.0, 1.0))
    w.start()
    await until(w.bar_event, lambda: bool(w.trade_errors))       # the first live up-signal tried to trade
    assert "trading is disabled" in w.trade_errors[0]
    # stamped with the signal's bar in New York time, like the SIGNAL line it follows (not UTC)
    stamps = {f"{sig.time.astimezone(ZoneInfo('America/New_York')):%Y-%m-%d %H:%M} TSLA: " for sig in w.signals}
    assert w.trade_errors[0][:len("2026-11-23 09:30 TSLA: ")] in stamps, (w.trade_errors[0], stamps)
    assert w.state == "live" and w.orders == [] and client.ib.trades() == []
    n = w.bars_seen
    await until(w.bar_event, lambda: w.bars_seen > n)             # and the watcher keeps going
    await w.aclose()


def test_argument_validation():
    with pytest.raises(ValueError, match="bar size '7 mins' is not an IB bar size"):
        BreakoutWatcher(object(), "AAPL", bar_size="7 mins")
    with pytest.raises(ValueError, match="symbol"):
        BreakoutWatcher(object(), "  ")
    with pytest.raises(TypeError, match="rule"):
        BreakoutWatcher(object(), "AAPL", rule={"lookback": 5})
    with pytest.raises(ValueError, match="max_bars"):
        BreakoutWatcher(object(), "AAPL", max_bars=0)
    with pytest.raises(ValueError, match="max_bars"):
        BreakoutWatcher(object(), "AAPL", max_bars=2**63)       # deque(maxlen=) overflowed
    for bad in [(0, 1, 1), (10, 0, 1), (10, 1, 100), (1.5, 1, 1), (True, 1, 1)]:
        with pytest.raises(ValueError):
            TradeSpec(*bad)
    s = Signal(datetime(2026, 11, 23, 15, 1, tzinfo=timezone.utc), "up", 10.0, 10.5)
    assert order_ref_for("AAPL", s) == "bk-AAPL-20261123T100100-up"  # New York time, as the tables show


def _pieces(start: datetime, n: int, price: float = 100.0):
    """``n`` consecutive 5-second real-time bars (as ``RealTimeBars.bar_event`` emits them) from ``start``."""
    return [Bar(start + timedelta(seconds=5 * k), price, price + 0.1, price - 0.1, price, 100.0) for k in range(n)]


def _feed(watcher, pieces) -> None:
    for piece in pieces:
        watcher._on_piece(piece)


async def test_next_bar_is_delivered_in_the_stream_callback_and_a_gap_goes_through_the_task():
    w = BreakoutWatcher(client=None, symbol="SYN", rule=BreakoutRule(lookback=3))
    t0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    w._last_time = int(t0.timestamp()) - 60          # the bar before t0 was delivered
    _feed(w, _pieces(t0, 12))                # completes the 15:00 bar: contiguous
    assert w.bars_seen == 1 and w._queue.empty()       # delivered synchronously, no task switch
    _feed(w, _pieces(t0 + timedelta(minutes=2), 12))   # 15:02 after 15:00: 15:01 is missing
    assert w.bars_seen == 1 and w._queue.qsize() == 1  # left for the task, which fills the gap from history first
    w._queue.get_nowait()
    w._busy = True                                      # the task is filling a gap: keep order, queue
    _feed(w, _pieces(t0 + timedelta(minutes=1), 12))
    assert w.bars_seen == 1 and w._queue.qsize() == 1


@pytest.mark.parametrize("can_signal", [True, False], ids=["signal-path", "after-the-burst"])
async def test_a_failure_in_the_stream_callback_fails_the_watcher_task(can_signal):
    """A detector failure on a live bar fails the watcher's task: at once when the bar can signal (its signals are
    worked out in the stream callback), after the burst when its update was deferred."""
    w = BreakoutWatcher(client=None, symbol="SYN")
    t0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    w._last_time = int(t0.timestamp()) - 60

    def boom(*_):
        raise RuntimeError("detector broke")

    from types import SimpleNamespace

    w.detector = SimpleNamespace(update=boom, update_values=boom, channel=None, bars_seen=0,
                                 can_signal=lambda *_: can_signal)
    _feed(w, _pieces(t0, 12))
    if not can_signal:
        assert w._queue.empty()
        await asyncio.sleep(0)                               # the end of the burst
    failed = w._queue.get_nowait()
    assert isinstance(failed.error, RuntimeError)


async def test_live_path_acts_on_the_signal_first_and_does_the_bookkeeping_after_the_burst():
    order = []
    w = BreakoutWatcher(client=None, symbol="SYN", rule=BreakoutRule(lookback=3),
                        on_signal=lambda watcher, s: order.append(("on_signal", watcher.last_bar.close,
                                                                   s in watcher.signals)))
    w.bar_event += lambda watcher, bar, channel: order.append(("bar", bar.close))
    w.signal_event += lambda watcher, s: order.append(("signal", s.price))
    t0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    for k in range(4):                                   # history: three flat bars, then a jump is a breakout
        w.feed(Bar(t0 + timedelta(minutes=k), 100.0, 100.1, 99.9, 100.0, 100.0))
    w._replaying = False
    order.clear()
    burst = _pieces(t0 + timedelta(minutes=4), 12, price=101.0) + _pieces(t0 + timedelta(minutes=5), 12, price=99.0)
    _feed(w, burst)                                     # one burst of messages: two 1-minute bars
    assert order == [("on_signal", 101.0, True)]        # the signal went out; the views wait for the burst's end
    await asyncio.sleep(0)
    assert order == [("on_signal", 101.0, True), ("bar", 101.0), ("signal", 101.0), ("bar", 99.0)]
    assert len(w.bars) == 6 and list(w.bars["close"][-2:]) == [101.0, 99.0]  # the window, in time order
    w.feed(Bar(t0 + timedelta(minutes=6), 99.0, 99.1, 98.9, 99.0, 100.0))  # a direct feed stays synchronous
    assert order[-1] == ("bar", 99.0) and len(w.bars) == 7


async def test_on_signal_reading_the_window_sees_the_bar_that_signalled():
    """``bars`` does the burst's deferred work first, so an ``on_signal`` that reads it gets the signal's bar as
    the last row, with the detector caught up (``bars_seen``)."""
    seen = []
    w = BreakoutWatcher(client=None, symbol="SYN", rule=BreakoutRule(lookback=3),
                        on_signal=lambda watcher, s: seen.append((watcher.bars["close"].iloc[-1], watcher.bars_seen)))
    t0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    for k in range(4):
        w.feed(Bar(t0 + timedelta(minutes=k), 100.0, 100.1, 99.9, 100.0, 100.0))
    w._replaying = False
    _feed(w, _pieces(t0 + timedelta(minutes=4), 12, price=101.0))
    assert seen == [(101.0, 5)]
    await asyncio.sleep(0)                              # the end of the burst: nothing is taken twice
    assert len(w.bars) == 5 and w.bars_seen == 5 and len(w.signals) == 1
