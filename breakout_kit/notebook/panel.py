"""ControlPanel: an ipywidgets panel to start and stop breakout watchers from a notebook.

Everything runs on the kernel's own asyncio loop, captured when the panel is built. Widget handlers (clicks, value
observers) may run on other threads: JupyterLab >= 4.4 with ipykernel 7 delivers widget messages on a kernel
*subshell* thread by default ("comms over subshells"). So a handler only hands its event to that loop with
``call_soon_threadsafe``; reading widgets, IB calls, starting watchers and updating widgets all happen there. Tasks
are kept by a TaskKeeper (not garbage-collected mid-flight) and any failure — in a handler, a watcher, a background
task — lands in the panel's error area instead of vanishing.
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
from breakout_kit.notebook.entry import SymbolEntry
from breakout_kit.notebook.errors import ErrorLog
from breakout_kit.notebook.tasks import TaskKeeper
from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec
from breakout_kit.watch.watchlist import Watchlist

_TABLE_REFRESH = 0.5  # seconds: the table redraws at most this often, however many bars arrive
_FINISHED = ("stopped", "failed")
_SUGGEST_DELAY = 0.4  # seconds without typing before the server is asked for matching symbols
DEFAULT_TZ = "America/New_York"  # one clock on screen: the exchange's

# The status line must not keep saying "connected" after the kernel is gone: on a kernel restart JupyterLab's
# widget manager marks every old widget view with the class ``jupyter-widgets-disconnected``; this CSS then swaps the
# connection text for a "kernel gone" one, in the browser, with no message from the (dead) kernel.
_STATUS_CSS = ("<style>.bk-status .bk-gone{display:none}"
               ".bk-status.jupyter-widgets-disconnected .bk-live{display:none}"
               ".bk-status.jupyter-widgets-disconnected .bk-gone{display:inline}</style>")
_GONE = ("<span class='bk-gone'><b>connection:</b> <span style='color:#c62828'>&#9679; kernel gone</span>"
         " (restarted or shut down): this panel is inactive; run its cell again</span>")


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
    throttle=0.3, show_charts=True, chart_height=380, renderer="plotly", tz="America/New_York", watcher_factory=None)``;
    ``renderer="canvas"`` draws the charts with the lighter CanvasChart; ``tz`` is the one time zone of everything the
    panel shows (default New York). Build it in a cell (on the kernel's loop) and display it as the cell's last
    expression. Programmatic use: ``panel.start("AAPL")`` returns the started watcher; ``panel.watchers`` /
    ``panel.charts`` map symbol to watcher / chart; ``panel.stop(symbol)``, ``panel.stop_all()``,
    ``await panel.aclose()``; ``await panel.settle()`` waits until widget events handed to the loop are handled;
    ``await panel.next_signal(timeout)`` (live signals only; ``history=True`` adds backfill replays) and
    ``await panel.wait_bars(n, timeout)`` pace a notebook on events. ``panel.watch_scan("TOP_PERC_GAIN", 10)`` (the
    "Top 10 gainers" button) keeps watchers on a market scan's rows.
    Paper trading controls (qty, TP %, SL %) are enabled only when ``client.trading`` is true.
    """

    def __init__(self, client=None, *, symbols: list[str] | None = None, rule=None, bar_size: str = "1 min",
                 backfill: str = "1 D", window: int = 500, throttle: float = 0.3, show_charts: bool = True,
                 chart_height: int = 380, renderer: str = "plotly", tz=DEFAULT_TZ,
                 watcher_factory: Callable | None = None):
        bar_size = live_bar_size(bar_size)        # "5m" -> "5 mins"; the same message as the CLI and the watcher
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None  # built outside a loop (a plain script): handlers act where they are called
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
        self.status.add_class("bk-status")
        self.symbol = SymbolEntry(options=list(symbols or []))
        short = {"style": {"description_width": "initial"}, "layout": W.Layout(width="170px")}
        self.lookback = W.BoundedIntText(value=lookback, min=1, max=100_000, description="lookback", **short)
        self.bar_size = W.Dropdown(options=LIVE_BAR_SIZES, value=bar_size, description="bar", **short)
        self.trigger = W.Dropdown(options=["close", "high"], value=trigger, description="trigger", **short)
        self.direction = W.Dropdown(options=["up", "down", "both"], value=direction, description="direction",
                                    **short)
        self.min_rel_volume = W.BoundedFloatText(value=min_rel_volume, min=0.0, max=1000.0, step=0.1,
                                                 description="min rel vol", **short)
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
        self.table.add_class("bk-table")
        self.errors = ErrorLog(tz=self.tz)
        self.charts_box = W.VBox()
        self._slots: dict[str, W.VBox] = {}  # symbol -> its own box in charts_box, kept for the panel's lifetime
        self.tasks = TaskKeeper(self.errors.report)
        self._handler_tasks: set[asyncio.Future] = set()

        # Handlers: hand the event to the loop, nothing else (they may run on a kernel subshell thread).
        self.symbol.on_action(lambda action, text: self._post(self._on_action, action, text))
        self.stop_all_button.on_click(lambda _b: self._post(self.stop_all))
        self.scan_button.on_click(lambda _b: self._post(self.watch_scan, "TOP_PERC_GAIN", 10))
        self.errors.clear_button.on_click(lambda _b: self._post(self.errors.clear))
        self.symbol.observe(lambda change: self._post(self._on_symbol_typed, change["new"]), names="value")
        self._trading_widgets = (self.trade_enabled, self.quantity, self.take_profit_pct, self.stop_loss_pct)
        self._subscribe_client()
        self._refresh_status()
        self._refresh_table()

        trading_box = W.HBox(list(self._trading_widgets))
        super().__init__([
            self.status,
            W.HBox([self.symbol, self.stop_all_button, self.scan_button]),
            W.HBox([self.lookback, self.bar_size, self.trigger, self.direction, self.min_rel_volume]),
            trading_box,
            self.table,
            self.errors,
            self.charts_box,
        ])

    # ---- handing widget events to the loop -------------------------------------------------------------------
    def _post(self, fn: Callable, *args) -> None:
        """Hand one widget event to the panel's loop; nothing else (this may run on a kernel subshell thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._handle(fn, *args)  # no loop to hand to (plain synchronous use): act here
            return
        loop.call_soon_threadsafe(self._handle, fn, *args)

    def _handle(self, fn: Callable, *args) -> None:
        """On the loop: run a handler; a coroutine it returns becomes a kept task; any error is reported."""
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - any handler error must reach the user, not vanish
            self.tasks.report(exc)
            return
        if asyncio.iscoroutine(result):
            self._spawn_handler(result, getattr(result, "__name__", "handler").strip("_"))

    def _spawn_handler(self, coro, name: str) -> asyncio.Task:
        task = self.tasks.spawn(coro, name=name)  # its failure is reported as "name: Error: message"
        self._handler_tasks.add(task)
        task.add_done_callback(self._handler_tasks.discard)
        return task

    async def settle(self) -> None:
        """Wait until every widget event handed to the loop so far is handled, with the tasks it started."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        handled = self._loop.create_future()
        self._loop.call_soon_threadsafe(handled.set_result, None)  # FIFO: after every event posted before it
        await handled
        while self._handler_tasks:
            await asyncio.gather(*list(self._handler_tasks), return_exceptions=True)

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
            live = "<b>connection:</b> no client (charts and table follow watchers you add)"
        else:
            state = getattr(c, "state", "connected" if getattr(c, "connected", False) else "disconnected")
            color = {"connected": "#2e7d32", "reconnecting": "#f9a825", "connecting": "#f9a825"}.get(state,
                                                                                                     "#c62828")
            settings = getattr(c, "settings", None)
            where = f"{settings.host}:{settings.port}" if settings is not None else ""
            raw = getattr(c, "account", "") or ""
            account = mask_account(raw) if raw else ""  # panels end up in screenshots and shared notebooks
            kind = "" if not account else (" paper" if getattr(c, "paper", True) else " <b>LIVE</b>")
            trading = "trading enabled" if self.trading else "read-only"
            live = (f"<b>connection:</b> <span style='color:{color}'>&#9679; {html.escape(state)}</span>"
                    f" {html.escape(where)} {html.escape(account)}{kind} &middot; {trading}")
        self.status.value = f"{_STATUS_CSS}<span class='bk-live'>{live}</span>{_GONE}"

    # ---- symbol suggestions ------------------------------------------------------------------------------
    def _on_symbol_typed(self, typed: str) -> None:
        text = (typed or "").strip()
        matcher = getattr(self.client, "matching_symbols", None)
        if not text or matcher is None or text.upper() in self.symbol.options:
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

    def _on_action(self, action: str, text: str):
        """On the loop: Start (a click or Enter) or Stop, for the text the box showed when it was clicked."""
        if action == "start":
            self._spawn_handler(self._start_clicked(text), f"start {text.strip().upper()}".strip())
        else:
            self.stop(text)

    async def _start_clicked(self, text: str):
        symbol = self._symbol_from(text)
        qualify = getattr(self.client, "qualify", None)
        if qualify is not None:
            await qualify(symbol)  # an unknown symbol fails here with a clear ContractError in the error area
        return self.start(symbol)

    def start(self, symbol: str | None = None, *, rule=None, bar_size: str | None = None, trade=None):
        """Start watching ``symbol`` (default: the entry) with the widgets' rule; returns the watcher.

        Needs a running loop (a notebook cell or an async function). ``rule``/``bar_size``/``trade`` override the
        widgets. The watcher's task is kept and its failure is reported in the error area.
        """
        symbol = self._symbol_from(symbol)
        old = self.watchers.get(symbol)
        if old is not None and getattr(old, "state", None) not in _FINISHED:
            raise ValueError(f"{symbol} is already being watched; stop it first")
        loop = asyncio.get_running_loop()  # fail fast, before building anything, when called without a loop
        if self._loop is None:
            self._loop = loop
        kwargs = {"rule": rule if rule is not None else self.rule(), "bar_size": bar_size or self.bar_size.value,
                  "backfill": self.backfill, "trade": trade if trade is not None else self.trade_spec()}
        if self.watcher_factory is BreakoutWatcher:
            kwargs["max_bars"] = self.window
        old_chart = None
        if old is not None:
            old_chart = self._forget(symbol)
        watcher = self.watchlist.start(symbol, **kwargs)
        if self.show_charts:
            chart = self.chart_class(watcher, window=self.window, throttle=self.throttle, height=self.chart_height,
                                     tz=self.tz)
            self.charts[symbol] = chart
            stale_event = getattr(chart, "stale_event", None)
            if stale_event is not None:  # (chart, stale) on the loop: say at once when a view falls behind
                stale_event.connect(self._on_chart_stale)
            self._show_chart(symbol, chart, old_chart)
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
                try:
                    self.start(symbol)
                except Exception as exc:  # noqa: BLE001 - one symbol's failure must not stop the others
                    self.tasks.report(exc, f"scan {symbol}")
                    continue
                self._scan_started.add(symbol)
        self._refresh_table()

    async def aclose(self) -> None:
        """Stop all watchers, wait for them to end, draw the charts' last picture and cancel leftover tasks.

        The charts stay on screen (marked stopped); ``chart.close()`` would remove one from the page.
        """
        self.stop_scan()
        self.stop_all()
        # Failures were already reported in the error area by the tasks' done-callbacks.
        await asyncio.gather(*self.watchers.values(), return_exceptions=True)
        for chart in self.charts.values():
            chart.flush()
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

    def _forget(self, symbol: str):
        """Drop a finished watcher; returns its chart (still on screen, closed once replaced) or None."""
        self.watchlist.forget(symbol)
        return self.charts.pop(symbol, None)

    def _show_chart(self, symbol: str, chart, old_chart=None) -> None:
        """Put ``chart`` in its symbol's own slot; no other chart's view is touched.

        A Box re-creates the views of every child from the first changed position on, so the charts box only ever
        grows at its end (one slot per symbol, never removed or reordered), and a restart swaps the child of one
        slot. Rebuilding the list tore down every live Plotly view mid-update (they froze, shrank and logged
        "Error setting state").
        """
        slot = self._slots.get(symbol)
        if slot is None:
            slot = self._slots[symbol] = W.VBox(layout=W.Layout(width="100%"))
            slot.add_class("bk-chart-slot")
            self.charts_box.children = (*self.charts_box.children, slot)  # appended: earlier views stay
        slot.children = (chart.widget,)
        if old_chart is not None:
            old_chart.close()  # after its view left the page: unsubscribe and free the model in kernel and browser

    # ---- watchers table ----------------------------------------------------------------------------------
    def _on_chart_stale(self, _chart, _stale) -> None:
        self._refresh_table()

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
                "<th>last signal</th><th>chart</th></tr>")
        rows = []
        for symbol, w in self.watchers.items():
            bar = getattr(w, "last_bar", None)
            signals = list(getattr(w, "signals", []) or [])
            last = signals[-1] if signals else None
            state = getattr(w, "state", "?")
            if state == "failed" and getattr(w, "error", None) is not None:
                state = f"failed: {type(w.error).__name__}"
            last_sig = (f"{last.direction} @ {last.price:.2f} ({_fmt_time(last.time, self.tz)})" if last else "")
            chart = self.charts.get(symbol)
            view = ""
            if chart is not None and getattr(chart, "stale", False):  # the browser draws slower than bars come
                view = f"<span class='bk-stale' style='color:#c62828'>&#9888; {chart.lag_s:.0f} s behind</span>"
            rows.append(
                f"<tr><td><b>{html.escape(symbol)}</b></td><td>{html.escape(state)}</td>"
                f"<td>{_fmt_time(getattr(bar, 'time', None), self.tz)}</td>"
                f"<td>{'' if bar is None else f'{bar.close:.2f}'}</td><td>{len(signals)}</td>"
                f"<td>{html.escape(last_sig)}</td><td>{view}</td></tr>")
        if not rows:
            rows.append("<tr><td colspan='7'><i>no watchers yet: enter a symbol and press Start</i></td></tr>")
        self.table.value = ("<table style='border-collapse:collapse;font-family:monospace' cellpadding='4'>"
                            + head + "".join(rows) + "</table>")
