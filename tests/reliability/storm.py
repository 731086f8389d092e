"""Shared pieces of the reliability suites: watchers on their own IBClients against one accelerated gateway, and
the checks that nothing was lost or repeated (bars == the gateway's own history, signals == scan over it)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from breakout_kit.client.ib_client import IBClient
from breakout_kit.core.breakout import BreakoutRule, scan
from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec

SESSION_OPEN = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("America/New_York"))   # as tests/conftest.py
RULE = BreakoutRule(lookback=10)       # short channel: plenty of signals to compare in a few simulated hours
OHLCV = ["open", "high", "low", "close", "volume"]


async def until(event, predicate, timeout: float = 30.0, what: str = "condition") -> None:
    """Await emissions of an eventkit ``event`` until ``predicate()`` holds (no polling, no sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event, left)


@dataclass
class Tracked:
    """One watcher with its own client, and every bar time it delivered (to count duplicates and gaps)."""

    client: IBClient
    watcher: BreakoutWatcher
    delivered: list = field(default_factory=list)
    live_signals: list = field(default_factory=list)     # signals after the initial backfill (they trade)

    def duplicates(self) -> int:
        return len(self.delivered) - len(set(self.delivered))

    def gaps(self) -> int:
        step = timedelta(seconds=self.watcher.seconds)
        return sum(1 for a, b in itertools.pairwise(self.delivered) if b - a != step)


def track(client: IBClient, symbol: str, trade: TradeSpec | None = None, max_bars: int = 20_000) -> Tracked:
    """Start a watcher for ``symbol`` on ``client`` and record what it delivers."""
    live: list = []
    w = BreakoutWatcher(client, symbol, rule=RULE, max_bars=max_bars, trade=trade,
                        on_signal=lambda watcher, signal, live=live: live.append(signal))
    t = Tracked(client, w, live_signals=live)
    w.bar_event += lambda watcher, bar, channel, t=t: t.delivered.append(bar.time)
    w.start()
    return t


async def start_watchers(gw, symbols, first_client_id: int, speed: float, trade: TradeSpec | None = None,
                         max_bars: int = 20_000) -> list[Tracked]:
    """One connected IBClient and watcher per symbol; returns once every watcher is live."""
    out = []
    for i, symbol in enumerate(symbols):
        client = IBClient(port=gw.port, client_id=first_client_id + i, clock_speed=speed,
                          reconnect_delays=(0.05, 0.1, 0.2), trading=trade is not None, timeout=10.0)
        await client.connect()
        out.append(track(client, symbol, trade, max_bars))
    for t in out:
        await until(t.watcher.bar_event, lambda t=t: t.watcher.state == "live", what=f"{t.watcher.symbol} live")
    return out


async def all_streaming_after(gw, tracked: list[Tracked], timeout: float = 60.0) -> None:
    """Every client connected, every watcher live and delivering bars that started after ``gw.now()``."""
    since = gw.now()
    for t in tracked:
        w = t.watcher
        if w.state == "failed":
            raise AssertionError(f"watcher {w.symbol} failed: {w.error!r}")
        await until(w.bar_event, lambda w=w: w.state == "live" and w.last_bar is not None and
                    w.last_bar.time > since, timeout,
                    what=lambda w=w, t=t: f"{w.symbol} streaming again (watcher {w.state}, last bar "
                                          f"{w.last_bar and w.last_bar.time}, client {t.client.state}, "
                                          f"connected {t.client.connected}, gateway now {gw.now()}, error {w.error!r})")
        assert t.client.connected and w.error is None, (w.symbol, w.state, w.error)


async def stop_all(tracked: list[Tracked]) -> None:
    await asyncio.gather(*(t.watcher.aclose() for t in tracked))
    for client in {id(t.client): t.client for t in tracked}.values():
        await client.disconnect()


def truth_frame(gw, symbol: str, index: pd.DatetimeIndex, seconds: int) -> pd.DataFrame:
    """The gateway's own bars over the span of ``index``."""
    first, last = index[0].to_pydatetime(), index[-1].to_pydatetime()
    bars = gw.history(symbol, seconds, first, last + timedelta(seconds=seconds))
    return pd.DataFrame({"open": [b.open for b in bars], "high": [b.high for b in bars],
                         "low": [b.low for b in bars], "close": [b.close for b in bars],
                         "volume": [int(b.volume) for b in bars]},  # share counts stay integers
                        index=pd.DatetimeIndex(pd.to_datetime([b.time for b in bars], unit="s", utc=True),
                                               name="time"))


def check_exact(gw, t: Tracked) -> tuple[int, int]:
    """Assert the watcher's bars equal the gateway's history and its signals equal ``scan`` over that history.
    Returns (bars compared, signals compared)."""
    w = t.watcher
    got = w.bars[OHLCV]
    assert len(got) == w.bars_seen, f"{w.symbol}: window truncated; raise max_bars"
    truth = truth_frame(gw, w.symbol, got.index, w.seconds)
    pd.testing.assert_frame_equal(got, truth, check_freq=False, obj=f"{w.symbol} bars")
    expected = scan(truth.reset_index(), w.rule)
    want = [(ts.to_pydatetime(), d) for ts, d in zip(expected["time"], expected["direction"], strict=True)]
    assert [(s.time, s.direction) for s in w.signals] == want, f"{w.symbol}: signals differ from scan"
    return len(got), len(want)
