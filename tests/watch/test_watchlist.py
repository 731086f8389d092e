"""Watchlist: the one set of watchers behind the CLI, the panel and the demo."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from breakout_kit.client.events import Event
from breakout_kit.watch.watchlist import SUMMARY_COLUMNS, Watchlist


class FakeWatcher:
    def __init__(self, client, symbol, **kwargs):
        self.client, self.symbol, self.kwargs = client, symbol, kwargs
        self.state, self.error, self.signals, self.last_bar, self.bars_seen = "starting", None, [], None, 0
        self.trade = kwargs.get("trade")
        self.orders: list = []
        self.replaying = True
        self.state_event, self.signal_event, self.bar_event = Event("state"), Event("signal"), Event("bar")
        self._stop = asyncio.Event()
        self._task = None

    def start(self):
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._task

    async def _run(self):
        self._set("live")
        await self._stop.wait()
        self._set("stopped")

    def _set(self, state):
        self.state = state
        self.state_event.emit(self, state)

    def signal(self, replaying: bool):
        self.replaying = replaying
        s = SimpleNamespace(time=datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc), direction="up", price=1.0,
                            level=0.9)
        self.signals.append(s)
        self.signal_event.emit(self, s)

    def stop(self):
        self._stop.set()

    async def aclose(self):
        self.stop()
        await self._task


class Client:
    def __init__(self):
        self.qualified = []

    async def qualify(self, symbol):
        if symbol == "NOPE":
            raise ValueError("unknown symbol NOPE")
        self.qualified.append(symbol)


async def test_start_stop_and_live_signal_counting():
    wl = Watchlist(Client(), watcher_factory=FakeWatcher, bar_size="1 min")
    started, live = [], []
    wl.started_event += started.append
    wl.live_signal_event += lambda w, s: live.append(w.symbol)
    a = wl.start(" aapl ")
    b = await wl.add("MSFT", bar_size="5 mins")
    assert started == [a, b] and list(wl.watchers) == ["AAPL", "MSFT"] and "aapl" in wl and len(wl) == 2
    assert a.kwargs == {"bar_size": "1 min"} and b.kwargs == {"bar_size": "5 mins"}
    with pytest.raises(ValueError, match="already watching AAPL"):
        wl.start("AAPL")
    a.signal(replaying=True)                      # backfill history: counted nowhere
    a.signal(replaying=False)
    assert live == ["AAPL"] and wl.live_signals == {"AAPL": 1, "MSFT": 0} and wl.signal_count == 1
    assert await wl.stop("AAPL") == ["AAPL"]
    assert a.state == "stopped" and b.state == "live" and [w.symbol for w in wl.running()] == ["MSFT"]
    again = wl.start("AAPL")                      # a stopped watcher is replaced
    assert again is not a and wl["AAPL"] is again
    await wl.aclose()
    assert all(w.state == "stopped" for w in wl)


async def test_add_qualifies_first_and_bad_symbols_start_nothing():
    client = Client()
    wl = Watchlist(client, watcher_factory=FakeWatcher)
    with pytest.raises(ValueError, match="unknown symbol NOPE"):
        await wl.add("nope")
    with pytest.raises(ValueError, match="enter a symbol first"):
        await wl.add("  ")
    assert len(wl) == 0 and client.qualified == []
    with pytest.raises(ValueError, match="not watching IBM"):
        await wl.stop("IBM")


async def test_stop_forget_and_summary_rows():
    wl = Watchlist(Client(), watcher_factory=FakeWatcher, trade=SimpleNamespace(quantity=1))
    live = asyncio.get_running_loop().create_future()
    wl.state_event += lambda _w, state: live.done() or live.set_result(state)
    w = wl.start("SPY")
    assert await asyncio.wait_for(live, 5) == "live"
    w.signal(replaying=False)
    frame = wl.summary()
    assert list(frame.columns) == SUMMARY_COLUMNS and frame.loc[0, "symbol"] == "SPY"
    assert frame.loc[0, "state"] == "live" and frame.loc[0, "signals"] == 1 and frame.loc[0, "brackets"] == 0
    await wl.stop("SPY", forget=True)
    assert len(wl) == 0 and w.state == "stopped"
    w.signal(replaying=False)                     # forgotten: its events no longer reach the list
    assert wl.signal_count == 1


def test_start_needs_a_running_loop():
    wl = Watchlist(Client(), watcher_factory=FakeWatcher)
    with pytest.raises(RuntimeError):
        wl.start("AAPL")
    assert len(wl) == 0
