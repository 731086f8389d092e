"""ControlPanel: an ipywidgets panel to start and stop breakout watchers from a notebook.

Everything runs on the kernel's own asyncio loop: button handlers create tasks there (kept by a TaskKeeper so they are
not garbage-collected mid-flight) and any failure — in a handler, a watcher, a background task — is written to the
panel's Output widget instead of vanishing.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable

import ipywidgets as W

from breakout_kit.client.config import mask_account
from breakout_kit.core.bars import LIVE_BAR_SIZES, live_bar_size
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.notebook.chart import StreamingChart
from breakout_kit.notebook.dashboard import chart_class
from breakout_kit.notebook.tasks import TaskKeeper
from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec
from breakout_kit.watch.watchlist import Watchlist

_TABLE_REFRESH = 0.5  # seconds: the table redraws at most this often, however many bars arrive
_FINISHED = ("stopped", "failed")
_SUGGEST_DELAY = 0.4  # seconds without typing before the server is asked for matching symbols


def _fmt_time(value, tz=None) -> str:
    if value is None:
        return ""
    try:
        if tz is not None and getattr(value, "tzinfo", None) is not None:
            value = value.astimezone(tz)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    except AttributeError:
        return str(value)


class ControlPanel(W.VBox):
    """Connection status, symbol entry, rule parameters, Start/Stop, a live watchers table, errors, charts.

    ``ControlPanel(client=None, *, symbols=None, rule=None, bar_size="1 min", backfill="1 D", window=500,
    throttle=0.3, show_charts=True, chart_height=380, renderer="plotly", tz=None, watcher_factory=None)``;
    ``renderer="canvas"`` draws the charts with the lighter CanvasChart; ``tz`` sets the charts' time zone. Display it as the last expression of a cell.
    Programmatic use: ``panel.start("AAPL")`` returns the started watcher; ``panel.watchers`` / ``panel.charts``
    map symbol to watcher / chart; ``panel.stop(symbol)``, ``panel.stop_all()``, ``await panel.aclose()``;
    ``await panel.next_signal(timeout)`` (live signals only; ``history=True`` adds backfill replays) and
    ``await panel.wait_bars(n, timeout)`` pace a notebook on events. ``panel.watch_scan("TOP_PERC_GAIN", 10)`` (the
    "Top 10 gainers" button) keeps watchers on a market scan's rows.
    Paper trading controls (qty, TP %, SL %) are enabled only when ``client.trading`` is true.
    """

    def __init__(self, client=None, *, symbols: list[str] | None = None, rule=None, bar_size: str = "1 min",
                 backfill: str = "1 D", window: int = 500, throttle: float = 0.3, show_charts: bool = True,
                 chart_height: int = 380, renderer: str = "plotly", tz=None,
                 watcher_factory: Callable | None = None):
        bar_size = live_bar_size(bar_size)        # "5m" -> "5 mins"; the same message as the CLI and the watcher
        self.client = client
        self.backfill = backfill
        self.window = window
        self.throttle = throttle
        self.show_charts = show_charts
        self.chart_height = chart_height
        self.watcher_factory = watcher_factory or BreakoutWatcher
        self.watchlist = Watchlist(client, watcher_factory=self.watcher_factory)
        self.chart_class = chart_class(renderer)
        if isinstance(tz, str):
            from zoneinfo import ZoneInfo

            tz = ZoneInfo(tz)
        self.tz = tz
        self.charts: dict[str, StreamingChart] = {}
        self.started_event = self.watchlist.started_event  # emits (watcher) after each start
        for event in (self.watchlist.state_event, self.watchlist.bar_event, self.watchlist.signal_event):
            event.connect(self._on_watcher_event)
        self._table_handle: asyncio.TimerHandle | None = None
        self._suggest_task: asyncio.Task | None = None
        lookback = getattr(rule, "lookback", 20)
        trigger = getattr(rule, "trigger", "close")
        direction = getattr(rule, "direction", "up")
        min_rel_volume = getattr(rule, "min_rel_volume", 0.0)

        self.status = W.HTML()
        self.symbol = W.Combobox(placeholder="symbol, e.g. AAPL", options=list(symbols or []),
                                 ensure_option=False, description="symbol", style={"description_width": "initial"},
                                 layout=W.Layout(width="260px"))  # wide enough for the whole placeholder
        short = {"style": {"description_width": "initial"}, "layout": W.Layout(width="170px")}
        self.lookback = W.BoundedIntText(value=lookback, min=1, max=100_000, description="lookback", **short)
        self.bar_size = W.Dropdown(options=LIVE_BAR_SIZES, value=bar_size, description="bar", **short)
        self.trigger = W.Dropdown(options=["close", "high"], value=trigger, description="trigger", **short)
        self.direction = W.Dropdown(options=["up", "down", "both"], value=direction, description="direction",
                                    **short)
        self.min_rel_volume = W.BoundedFloatText(value=min_rel_volume, min=0.0, max=1000.0, step=0.1,
                                                 description="min rel vol", **short)
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="warning", icon="stop",
                                    tooltip="stop the watcher for the symbol in the entry")
        self.stop_all_button = W.Button(description="Stop all", button_style="danger", icon="stop-circle")
        self.scan_button = W.Button(description="Top 10 gainers", icon="list-ol",
                                    tooltip="watch the top 10 % gainers of the market scanner (refreshed ~30 s)")
        self.scan = None           # the ScanSubscription of watch_scan(), if any
        self._scan_started: set[str] = set()
        self.trade_enabled = W.Checkbox(value=False, description="bracket on signals", indent=False)
        self.quantity = W.BoundedIntText(value=10, min=1, max=1_000_000, description="qty", **short)
        self.take_profit_pct = W.BoundedFloatText(value=1.0, min=0.01, max=99.0, step=0.1, description="TP %",
                                                  **short)
        self.stop_loss_pct = W.BoundedFloatText(value=0.5, min=0.01, max=99.0, step=0.1, description="SL %",
                                                **short)
        self.table = W.HTML()
        self.output = W.Output(layout=W.Layout(border="1px solid #ddd", max_height="160px", overflow="auto"))
        self.charts_box = W.VBox()
        self.tasks = TaskKeeper(self.output)

        self.start_button.on_click(lambda _b: self.tasks.spawn(self._start_clicked(), name="start"))
        self.stop_button.on_click(lambda _b: self._guard(self.stop))
        self.stop_all_button.on_click(lambda _b: self._guard(self.stop_all))
        self.scan_button.on_click(lambda _b: self._guard(lambda: self.watch_scan("TOP_PERC_GAIN", 10)))
        self.symbol.observe(self._on_symbol_typed, names="value")
        self._trading_widgets = (self.trade_enabled, self.quantity, self.take_profit_pct, self.stop_loss_pct)
        self._subscribe_client()
        self._refresh_status()
        self._refresh_table()

        trading_box = W.HBox(list(self._trading_widgets))
        super().__init__([
            self.status,
            W.HBox([self.symbol, self.start_button, self.stop_button, self.stop_all_button, self.scan_button]),
            W.HBox([self.lookback, self.bar_size, self.trigger, self.direction, self.min_rel_volume]),
            trading_box,
            self.table,
            self.output,
            self.charts_box,
        ])

    # ---- client / status ---------------------------------------------------------------------------------
    @property
    def watchers(self) -> dict[str, BreakoutWatcher]:
        """Symbol -> watcher (stopped ones stay, with their frozen charts, until started again)."""
        return self.watchlist.watchers

    @property
    def trading(self) -> bool:
        """True when the client allows orders (the paper trading controls are enabled then)."""
        return bool(getattr(self.client, "trading", False))

    def _subscribe_client(self) -> None:
        event = getattr(self.client, "state_event", None)
        if event is not None:
            event.connect(self._on_client_state)

    def _on_client_state(self, *_args) -> None:
        self._refresh_status()

    def _refresh_status(self) -> None:
        c = self.client
        for w in self._trading_widgets:
            w.disabled = not self.trading
        if c is None:
            self.status.value = "<b>connection:</b> no client (charts and table follow watchers you add)"
            return
        state = getattr(c, "state", "connected" if getattr(c, "connected", False) else "disconnected")
        color = {"connected": "#2e7d32", "reconnecting": "#f9a825", "connecting": "#f9a825"}.get(state, "#c62828")
        settings = getattr(c, "settings", None)
        where = f"{settings.host}:{settings.port}" if settings is not None else ""
        raw = getattr(c, "account", "") or ""
        account = mask_account(raw) if raw else ""  # panels end up in screenshots and shared notebooks
        kind = "" if not account else (" paper" if getattr(c, "paper", True) else " <b>LIVE</b>")
        trading = "trading enabled" if self.trading else "read-only"
        self.status.value = (f"<b>connection:</b> <span style='color:{color}'>&#9679; {html.escape(state)}</span>"
                             f" {html.escape(where)} {html.escape(account)}{kind} &middot; {trading}")

    # ---- symbol suggestions ------------------------------------------------------------------------------
    def _on_symbol_typed(self, change) -> None:
        text = (change["new"] or "").strip()
        matcher = getattr(self.client, "matching_symbols", None)
        if not text or matcher is None or text.upper() in self.symbol.options:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._suggest_task is not None and not self._suggest_task.done():
            self._suggest_task.cancel()  # only the latest keystroke matters
        self._suggest_task = self.tasks.spawn(self._suggest(text), name="matching symbols")

    async def _suggest(self, text: str) -> None:
        # Debounce: IB answers about one matching-symbols request per second, so ask only once typing pauses.
        await asyncio.sleep(_SUGGEST_DELAY)
        found = await self.client.matching_symbols(text)
        merged = list(dict.fromkeys([*found, *self.symbol.options]))
        self.symbol.options = merged

    # ---- start / stop ------------------------------------------------------------------------------------
    def rule(self) -> BreakoutRule:
        """The BreakoutRule the widgets describe (ValueError if they describe an invalid one)."""
        return BreakoutRule(lookback=int(self.lookback.value), trigger=self.trigger.value,
                            direction=self.direction.value, min_rel_volume=float(self.min_rel_volume.value))

    def trade_spec(self):
        """The TradeSpec for new watchers, or None when bracket trading is off or not allowed."""
        if not (self.trading and self.trade_enabled.value):
            return None
        return TradeSpec(int(self.quantity.value), float(self.take_profit_pct.value),
                         float(self.stop_loss_pct.value))

    def _symbol_from(self, symbol: str | None) -> str:
        symbol = (symbol if symbol is not None else self.symbol.value or "").strip().upper()
        if not symbol:
            raise ValueError("enter a symbol first")
        return symbol

    async def _start_clicked(self):
        symbol = self._symbol_from(None)
        qualify = getattr(self.client, "qualify", None)
        if qualify is not None:
            await qualify(symbol)  # an unknown symbol fails here with a clear ContractError in the Output
        return self.start(symbol)

    def start(self, symbol: str | None = None, *, rule=None, bar_size: str | None = None, trade=None):
        """Start watching ``symbol`` (default: the entry) with the widgets' rule; returns the watcher.

        Needs a running loop (a notebook cell or an async function). ``rule``/``bar_size``/``trade`` override the
        widgets. The watcher's task is kept and its failure is reported in the Output widget.
        """
        symbol = self._symbol_from(symbol)
        old = self.watchers.get(symbol)
        if old is not None and getattr(old, "state", None) not in _FINISHED:
            raise ValueError(f"{symbol} is already being watched; stop it first")
        asyncio.get_running_loop()  # fail fast, before building anything, when called without a loop
        kwargs = {"rule": rule if rule is not None else self.rule(), "bar_size": bar_size or self.bar_size.value,
                  "backfill": self.backfill, "trade": trade if trade is not None else self.trade_spec()}
        if self.watcher_factory is BreakoutWatcher:
            kwargs["max_bars"] = self.window
        if old is not None:
            self._forget(symbol)
        watcher = self.watchlist.start(symbol, **kwargs)
        if self.show_charts:
            chart = self.chart_class(watcher, window=self.window, throttle=self.throttle, height=self.chart_height,
                                     tz=self.tz)
            self.charts[symbol] = chart
            self.charts_box.children = [c.widget for c in self.charts.values()]
        self.tasks.watch(watcher.start(), what=f"watcher {symbol}")   # start() returns the running task
        if symbol not in self.symbol.options:
            self.symbol.options = [*self.symbol.options, symbol]
        self._refresh_table()
        return watcher

    def stop(self, symbol: str | None = None) -> None:
        """Stop the watcher for ``symbol`` (default: the entry). Its chart stays, frozen."""
        symbol = self._symbol_from(symbol)
        watcher = self.watchers.get(symbol)
        if watcher is None:
            raise ValueError(f"no watcher for {symbol}; running: {', '.join(self.watchers) or 'none'}")
        watcher.stop()
        self._refresh_table()

    def stop_all(self) -> None:
        """Stop every watcher (idempotent)."""
        for watcher in self.watchers.values():
            watcher.stop()
        self._refresh_table()

    def watch_scan(self, scan_code: str = "TOP_PERC_GAIN", rows: int = 10, **limits):
        """Watch the top ``rows`` of a market scan (``client.subscribe_scan``; limits as there): a watcher starts
        for every symbol in the scan, and the watchers the scan started stop when their symbol leaves it, at each
        refresh (~30 s). Watchers started by hand are left alone. Returns the scan subscription (its ``rows`` is
        the current list); ``stop_scan()`` ends it. Needs a running loop."""
        asyncio.get_running_loop()
        self.stop_scan()
        self.scan = self.client.subscribe_scan(scan_code, rows, **limits)
        self.scan.update_event += self._on_scan_rows
        self.scan.error_event += lambda code, msg: self.tasks.report(ValueError(f"scan {scan_code}: {msg}"))
        return self.scan

    def stop_scan(self) -> None:
        """End the scan of ``watch_scan`` (its watchers keep running; ``stop_all()`` stops them)."""
        scan, self.scan = self.scan, None
        if scan is not None:
            scan.update_event -= self._on_scan_rows
            scan.cancel()
        self._scan_started = set()

    def _on_scan_rows(self, frame) -> None:
        wanted = [str(s) for s in frame["symbol"]]
        for symbol in sorted(self._scan_started - set(wanted)):
            watcher = self.watchers.get(symbol)
            if watcher is not None and getattr(watcher, "state", None) not in _FINISHED:
                watcher.stop()
            self._scan_started.discard(symbol)
        for symbol in wanted:
            watcher = self.watchers.get(symbol)
            if watcher is None or getattr(watcher, "state", None) in _FINISHED:
                self._guard(lambda symbol=symbol: self.start(symbol))
                self._scan_started.add(symbol)
        self._refresh_table()

    async def aclose(self) -> None:
        """Stop all watchers, wait for them to end, unsubscribe the charts and cancel leftover tasks."""
        self.stop_scan()
        self.stop_all()
        # Failures were already reported in the Output by the tasks' done-callbacks.
        await asyncio.gather(*self.watchers.values(), return_exceptions=True)
        for chart in self.charts.values():
            chart.flush()
            chart.close()
        if self._table_handle is not None:
            self._table_handle.cancel()
            self._table_handle = None
        await self.tasks.cancel_all()
        self._refresh_table()

    # ---- awaiting ------------------------------------------------------------------------------------------
    async def next_signal(self, timeout: float | None = None, *, history: bool = False):
        """Wait for the next signal from any of the panel's watchers (also ones started meanwhile).

        Signals found while a watcher replays its backfill are history and skipped unless ``history=True``
        (they are not traded either). Returns ``(watcher, signal)``; raises ``asyncio.TimeoutError`` after
        ``timeout`` seconds.
        """
        fut = asyncio.get_running_loop().create_future()

        def on_signal(watcher, signal):
            if not history and watcher.replaying:
                return
            if not fut.done():
                fut.set_result((watcher, signal))

        def on_started(watcher):
            watcher.signal_event.connect(on_signal)

        followed = list(self.watchers.values())
        for w in followed:
            w.signal_event.connect(on_signal)
        self.started_event.connect(on_started)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.started_event.disconnect(on_started)
            for w in {id(w): w for w in [*followed, *self.watchers.values()]}.values():
                w.signal_event.disconnect(on_signal)

    async def wait_bars(self, count: int, timeout: float | None = None) -> None:
        """Wait until every running watcher has delivered ``count`` more bars (finished watchers are skipped).

        Raises ``asyncio.TimeoutError`` after ``timeout`` seconds, and re-raises a watcher's error if one fails.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        fut = asyncio.get_running_loop().create_future()
        seen = {id(w): 0 for w in self.watchers.values() if getattr(w, "state", None) not in _FINISHED}

        def check(*_args):
            if fut.done():
                return
            for w in self.watchers.values():
                if getattr(w, "state", None) == "failed" and id(w) in seen:
                    fut.set_exception(w.error or RuntimeError(f"watcher {w.symbol} failed"))
                    return
            live = [k for k, w in ((id(w), w) for w in self.watchers.values())
                    if k in seen and getattr(w, "state", None) not in _FINISHED]
            if all(seen[k] >= count for k in live):
                fut.set_result(None)

        def on_bar(watcher, *_args):
            if id(watcher) in seen:
                seen[id(watcher)] += 1
            check()

        watchers = list(self.watchers.values())
        for w in watchers:
            w.bar_event.connect(on_bar)
            w.state_event.connect(check)
        check()
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            for w in watchers:
                w.bar_event.disconnect(on_bar)
                w.state_event.disconnect(check)

    def _forget(self, symbol: str) -> None:
        self.watchlist.forget(symbol)
        chart = self.charts.pop(symbol, None)
        if chart is not None:
            chart.close()

    def _guard(self, fn: Callable[[], None]) -> None:
        """Run a sync handler; an exception goes to the Output widget (handlers' errors are otherwise lost)."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - any handler error must reach the user, not vanish
            self.tasks.report(exc)

    # ---- watchers table ----------------------------------------------------------------------------------
    def _on_watcher_event(self, watcher, *_args) -> None:
        if getattr(watcher, "state", None) in _FINISHED:
            self._refresh_table()  # final states show at once
            return
        if self._table_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._refresh_table()
            return
        self._table_handle = loop.call_later(_TABLE_REFRESH, self._refresh_table)

    def _refresh_table(self) -> None:
        if self._table_handle is not None:
            self._table_handle.cancel()
            self._table_handle = None
        head = ("<tr><th>symbol</th><th>state</th><th>last bar</th><th>last price</th><th>signals</th>"
                "<th>last signal</th></tr>")
        rows = []
        for symbol, w in self.watchers.items():
            bar = getattr(w, "last_bar", None)
            signals = list(getattr(w, "signals", []) or [])
            last = signals[-1] if signals else None
            state = getattr(w, "state", "?")
            if state == "failed" and getattr(w, "error", None) is not None:
                state = f"failed: {type(w.error).__name__}"
            last_sig = (f"{last.direction} @ {last.price:.2f} ({_fmt_time(last.time, self.tz)})" if last else "")
            rows.append(
                f"<tr><td><b>{html.escape(symbol)}</b></td><td>{html.escape(state)}</td>"
                f"<td>{_fmt_time(getattr(bar, 'time', None), self.tz)}</td>"
                f"<td>{'' if bar is None else f'{bar.close:.2f}'}</td><td>{len(signals)}</td>"
                f"<td>{html.escape(last_sig)}</td></tr>")
        if not rows:
            rows.append("<tr><td colspan='6'><i>no watchers yet: enter a symbol and press Start</i></td></tr>")
        self.table.value = ("<table style='border-collapse:collapse;font-family:monospace' cellpadding='4'>"
                            + head + "".join(rows) + "</table>")
