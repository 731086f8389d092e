"""Watchlist: a set of breakout watchers on one client (start, stop, summary rows, events).

The one set-of-watchers object behind the CLI, the notebook's ControlPanel and the demo, so all three count live
signals, refuse a second watcher for a symbol and stop cleanly the same way.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from breakout_kit.client import symbols
from breakout_kit.client.events import Event
from breakout_kit.watch.watcher import BreakoutWatcher

FINISHED = ("stopped", "failed")
SUMMARY_COLUMNS = ["symbol", "kind", "state", "last_bar", "last_price", "bars", "signals", "backfill_signals",
                   "last_signal", "brackets", "refused", "error"]

WatcherFactory = Callable[..., Any]


class Watchlist:
    """Watchers by symbol on one client; each runs as a task on the running loop.

    ``Watchlist(client, *, watcher_factory=BreakoutWatcher, **defaults)``: ``defaults`` are ``BreakoutWatcher``
    arguments (``rule``, ``bar_size``, ``backfill``, ``max_bars``, ``trade`` ...) that ``start`` overrides.

    Events (handlers get the watcher first): ``started_event(watcher)``, ``state_event(watcher, state)``,
    ``bar_event(watcher, bar, channel)``, ``signal_event(watcher, signal)`` for every signal and
    ``live_signal_event(watcher, signal)`` only for signals that are news (not replayed from the backfill).

        wl = Watchlist(client, rule=BreakoutRule(lookback=20))
        wl.start("AAPL"); wl.start("MSFT", bar_size="5m")
        wl.summary()                # DataFrame, one row per watcher
        await wl.stop("AAPL")       # or: await wl.aclose()
    """

    def __init__(self, client: Any, *, watcher_factory: WatcherFactory | None = None, **defaults: Any) -> None:
        self.client = client
        self.watcher_factory = watcher_factory or BreakoutWatcher
        self.defaults = defaults
        self.watchers: dict[str, Any] = {}
        #: live signals per symbol (a watcher's own ``signals`` also holds the ones found in its backfill)
        self.live_signals: dict[str, int] = {}
        self.started_event = Event("started")
        self.state_event = Event("state")
        self.bar_event = Event("bar")
        self.signal_event = Event("signal")
        self.live_signal_event = Event("live_signal")

    # ---- the set ---------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        return iter(list(self.watchers.values()))

    def __len__(self) -> int:
        return len(self.watchers)

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and symbol.strip().upper() in self.watchers

    def __getitem__(self, symbol: str) -> Any:
        return self.watchers[symbol.strip().upper()]

    def get(self, symbol: str) -> Any | None:
        return self.watchers.get(symbol.strip().upper())

    def running(self) -> list[Any]:
        """Watchers that have not stopped or failed."""
        return [w for w in self.watchers.values() if w.state not in FINISHED]

    @property
    def signal_count(self) -> int:
        return sum(self.live_signals.values())

    # ---- start / stop ----------------------------------------------------------------------------------------
    def start(self, symbol: str, **overrides: Any) -> Any:
        """Create and start the watcher for ``symbol`` (needs a running loop); returns it.

        ``ValueError`` if that symbol is already being watched. A stopped or failed watcher for it is replaced.
        """
        symbol = _symbol(symbol)
        old = self.watchers.get(symbol)
        if old is not None and old.state not in FINISHED:
            raise ValueError(f"already watching {symbol} (stop {symbol} first)")
        asyncio.get_running_loop()      # fail before building anything when there is no loop
        watcher = self.watcher_factory(self.client, symbol, **{**self.defaults, **overrides})
        if old is not None:
            self.forget(symbol)
        self.watchers[symbol] = watcher
        self.live_signals[symbol] = 0
        watcher.state_event += self._on_state
        watcher.signal_event += self._on_signal
        watcher.bar_event += self._on_bar
        watcher.start()
        self.started_event.emit(watcher)
        return watcher

    async def add(self, symbol: str, **overrides: Any) -> Any:
        """Qualify ``symbol`` first (an unknown symbol raises here, before any task starts), then ``start`` it."""
        symbol = _symbol(symbol)
        current = self.watchers.get(symbol)
        if current is not None and current.state not in FINISHED:
            raise ValueError(f"already watching {symbol} (stop {symbol} first)")
        if self.client is not None:   # a list without a client (replays, tests) has nothing to ask
            await self.client.qualify(symbol)
        return self.start(symbol, **overrides)

    def stop_nowait(self, symbol: str | None = None) -> list[str]:
        """Ask one watcher (or all, with ``None``) to stop; returns the symbols asked. Does not wait."""
        targets = self._targets(symbol)
        for s in targets:
            self.watchers[s].stop()
        return targets

    async def stop(self, symbol: str | None = None, *, forget: bool = False, timeout: float = 5.0) -> list[str]:
        """Stop one watcher (or all, with ``None``) and wait until their tasks have ended (bounded by
        ``timeout``); ``forget=True`` also removes them from the list. Returns the symbols stopped."""
        targets = self.stop_nowait(symbol)
        ws = [self.watchers[s] for s in targets]
        if ws:
            # aclose() also ends a bracket still being placed; failures were reported through state "failed"
            await asyncio.wait_for(asyncio.gather(*(_close(w) for w in ws), return_exceptions=True), timeout)
        if forget:
            for s in targets:
                self.forget(s)
        return targets

    def forget(self, symbol: str) -> Any:
        """Remove a watcher from the list (stop it first) and unhook its events; returns it."""
        watcher = self.watchers.pop(_symbol(symbol))
        watcher.state_event -= self._on_state
        watcher.signal_event -= self._on_signal
        watcher.bar_event -= self._on_bar
        return watcher

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop every watcher and wait for them (bounded); the list keeps them, stopped."""
        if self.watchers:
            await self.stop(None, timeout=timeout)

    def _targets(self, symbol: str | None) -> list[str]:
        if symbol is None:
            return list(self.watchers)
        s = _symbol(symbol)
        if s not in self.watchers:
            raise ValueError(f"not watching {s}; watching: {', '.join(self.watchers) or 'nothing'}")
        return [s]

    # ---- events ------------------------------------------------------------------------------------------------
    def _on_state(self, watcher: Any, state: str) -> None:
        self.state_event.emit(watcher, state)

    def _on_bar(self, watcher: Any, bar: Any, channel: Any) -> None:
        self.bar_event.emit(watcher, bar, channel)

    def _on_signal(self, watcher: Any, signal: Any) -> None:
        self.signal_event.emit(watcher, signal)
        if watcher.replaying:
            return          # history replayed by the first backfill: not news, and not traded
        self.live_signals[watcher.symbol] = self.live_signals.get(watcher.symbol, 0) + 1
        self.live_signal_event.emit(watcher, signal)

    # ---- summary ------------------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One dict per watcher: symbol, state, last_bar (time), last_price, bars, signals (live: news since the
        watcher went live, the one meaning of "signals" in the CLI and the panel), backfill_signals (found while
        replaying the backfill: history, never traded), last_signal, brackets (placed, or None without trading),
        refused (brackets refused), error (text, '' if none)."""
        out = []
        for symbol, w in self.watchers.items():
            bar = w.last_bar
            signals = list(w.signals or [])
            live = self.live_signals.get(symbol, 0)
            trading = getattr(w, "trade", None) is not None   # fakes and custom factories may not trade
            refused = list(getattr(w, "trade_errors", None) or [])
            error = (f"{type(w.error).__name__}: {w.error}" if w.error is not None
                     else f"{len(refused)} bracket(s) refused, last: {refused[-1]}" if refused else "")
            out.append({
                "symbol": symbol, "kind": instrument_kind(symbol), "state": w.state,
                "last_bar": bar.time if bar is not None else None,
                "last_price": float(bar.close) if bar is not None else math.nan,
                "bars": w.bars_seen,
                "signals": live,
                "backfill_signals": max(0, len(signals) - live),
                "last_signal": signals[-1] if signals else None,
                "brackets": len(getattr(w, "orders", None) or []) if trading else None,
                "refused": len(refused),
                "error": str(error),
            })
        return out

    # ---- awaiting --------------------------------------------------------------------------------------------
    async def next_signal(self, timeout: float | None = None, *, history: bool = False) -> tuple[Any, Any]:
        """The next signal of any watcher (also of ones started meanwhile): ``(watcher, signal)``. Backfill
        replays are skipped unless ``history=True``. ``asyncio.TimeoutError`` after ``timeout`` seconds."""
        fut: asyncio.Future = asyncio.get_running_loop().create_future()

        def on_signal(watcher, signal):
            if (history or not watcher.replaying) and not fut.done():
                fut.set_result((watcher, signal))

        self.signal_event += on_signal
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.signal_event -= on_signal

    async def wait_bars(self, count: int, timeout: float | None = None) -> None:
        """Until every running watcher has delivered ``count`` more bars (finished ones are skipped); re-raises a
        watcher's error if one fails. ``asyncio.TimeoutError`` after ``timeout`` seconds."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        seen = {w.symbol: 0 for w in self.running()}

        def check(*_args) -> None:
            if fut.done():
                return
            followed = [w for w in self.watchers.values() if w.symbol in seen]
            failed = [w for w in followed if w.state == "failed"]
            if failed:
                fut.set_exception(failed[0].error or RuntimeError(f"watcher {failed[0].symbol} failed"))
            elif all(seen[w.symbol] >= count for w in followed if w.state not in FINISHED):
                fut.set_result(None)

        def on_bar(watcher, *_args) -> None:
            if watcher.symbol in seen:
                seen[watcher.symbol] += 1
            check()

        self.bar_event += on_bar
        self.state_event += check
        check()
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            self.bar_event -= on_bar
            self.state_event -= check

    # ---- following a market scan -----------------------------------------------------------------------------
    def follow_scan(self, scan: Any, start: Callable[[str], Any], on_error: Callable[[BaseException, str], None]
                    ) -> Callable[[], None]:
        """Keep a watcher on every row of ``scan`` (a ``ScanSubscription``): ``start(symbol)`` for each new symbol;
        the watchers it started stop when their symbol leaves the scan (watchers started otherwise are left
        alone). Returns a function that stops following (the watchers keep running)."""
        started: set[str] = set()

        def on_rows(frame) -> None:
            wanted = [str(s) for s in frame["symbol"]]
            for symbol in sorted(started - set(wanted)):
                watcher = self.watchers.get(symbol)
                if watcher is not None and watcher.state not in FINISHED:
                    watcher.stop()
                started.discard(symbol)
            for symbol in wanted:
                watcher = self.watchers.get(symbol)
                if watcher is None or watcher.state in FINISHED:
                    try:
                        start(symbol)
                    except Exception as exc:  # noqa: BLE001 - one symbol's failure must not stop the others
                        on_error(exc, f"scan {symbol}")
                        continue
                    started.add(symbol)

        scan.update_event += on_rows

        def unfollow() -> None:
            scan.update_event -= on_rows
            started.clear()

        return unfollow

    def summary(self) -> pd.DataFrame:
        """``rows()`` as a DataFrame indexed by nothing, one row per watcher."""
        return pd.DataFrame(self.rows(), columns=SUMMARY_COLUMNS)

    def __repr__(self) -> str:
        states = ", ".join(f"{s}:{w.state}" for s, w in self.watchers.items())
        return f"<Watchlist {len(self)} watcher(s) {states}>"


def instrument_kind(symbol: str) -> str:
    """stock, forex, future or index: what the one symbol grammar makes of ``symbol`` ("" if it is none)."""
    try:
        kind = symbols.parse_symbol(symbol).kind
    except (ValueError, TypeError):
        return ""
    return "future" if kind == "front" else kind


def _symbol(symbol: str) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError("enter a symbol first")
    return symbol.strip().upper()


async def _close(watcher: Any) -> Any:
    aclose = getattr(watcher, "aclose", None)
    if aclose is not None:
        return await aclose()
    return await watcher


__all__ = ["FINISHED", "SUMMARY_COLUMNS", "Watchlist"]
