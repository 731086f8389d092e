"""ControlPanel: an ipywidgets panel to start and stop breakout watchers from a notebook, on a ``Watchlist``.

Everything runs on the kernel's own asyncio loop, captured when the panel is built. Widget handlers (clicks, value
observers) may run on other threads: JupyterLab >= 4.4 with ipykernel 7 delivers widget messages on a kernel
*subshell* thread by default ("comms over subshells"). So a handler only hands its event to that loop with
``call_soon_threadsafe``; reading widgets, IB calls, starting watchers and updating widgets all happen there. Tasks
are kept by a TaskKeeper (not garbage-collected mid-flight) and any failure — in a handler, a watcher, a background
task — lands in the panel's error area instead of vanishing.

The watchers are a :class:`~breakout_kit.watch.watchlist.Watchlist` (the CLI's and the demo's too): Start is
``await watchlist.add(...)`` (its checks, its qualify), the table is its rows, and "signals" means what it means
there (live ones; backfill replays in their own column). A chart is made for every watcher the list starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from zoneinfo import ZoneInfo

import ipywidgets as W

from breakout_kit.core.bars import LIVE_BAR_SIZES, live_bar_size
from breakout_kit.core.breakout import MAX_LOOKBACK, BreakoutRule
from breakout_kit.notebook.chart import StreamingChart
from breakout_kit.notebook.dashboard import chart_class
from breakout_kit.notebook.entry import SymbolEntry
from breakout_kit.notebook.errors import ErrorLog
from breakout_kit.notebook.status import status_html, watchers_table_html
from breakout_kit.notebook.tasks import Pending, TaskKeeper
from breakout_kit.watch.protocols import ClientView, WatcherView
from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec
from breakout_kit.watch.watchlist import FINISHED, Watchlist

_TABLE_REFRESH = 0.5  # seconds: the table redraws at most this often, however many bars arrive
_SUGGEST_DELAY = 0.4  # seconds without typing before the server is asked for matching symbols
DEFAULT_TZ = "America/New_York"  # one clock on screen: the exchange's


class ControlPanel(W.VBox):
    """Connection status, symbol entry, rule parameters, Start/Stop, a live watchers table, errors, charts.

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

    def __init__(self, client: ClientView | None = None, *, symbols: list[str] | None = None,
                 rule: BreakoutRule | None = None, bar_size: str = "1 min", backfill: str = "1 D", window: int = 500,
                 throttle: float = 0.3, show_charts: bool = True, chart_height: int = 380, renderer: str = "plotly",
                 tz=DEFAULT_TZ, watcher_factory: Callable | None = None):
        bar_size = live_bar_size(bar_size)        # "5m" -> "5 mins"; the same message as the CLI and the watcher
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None  # built outside a loop (a plain script): handlers act where they are called
        self.client = client
        self.window, self.throttle, self.show_charts, self.chart_height = window, throttle, show_charts, chart_height
        factory = watcher_factory or BreakoutWatcher
        defaults = {"backfill": backfill, **({"max_bars": window} if factory is BreakoutWatcher else {})}
        self.watchlist = Watchlist(client, watcher_factory=factory, **defaults)
        self.chart_class = chart_class(renderer)
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.charts: dict[str, StreamingChart] = {}
        self.started_event = self.watchlist.started_event  # emits (watcher) after each start
        self.watchlist.started_event += self._on_started
        for event in (self.watchlist.state_event, self.watchlist.bar_event, self.watchlist.signal_event):
            event.connect(self._on_watcher_event)
        self._table_handle: asyncio.TimerHandle | None = None
        self._suggest_task: asyncio.Task | None = None
        rule = rule or BreakoutRule()

        self.status = W.HTML()
        self.status.add_class("bk-status")
        self.symbol = SymbolEntry(options=list(symbols or []))
        short = {"style": {"description_width": "initial"}, "layout": W.Layout(width="170px")}
        self.lookback = W.BoundedIntText(value=rule.lookback, min=1, max=MAX_LOOKBACK, description="lookback",
                                         **short)
        self.bar_size = W.Dropdown(options=LIVE_BAR_SIZES, value=bar_size, description="bar", **short)
        self.trigger = W.Dropdown(options=["close", "high"], value=rule.trigger, description="trigger", **short)
        self.direction = W.Dropdown(options=["up", "down", "both"], value=rule.direction, description="direction",
                                    **short)
        self.min_rel_volume = W.BoundedFloatText(value=rule.min_rel_volume, min=0.0, max=1000.0, step=0.1,
                                                 description="min rel vol", **short)
        self.stop_all_button = W.Button(description="Stop all", button_style="danger", icon="stop-circle")
        self.scan_button = W.Button(description="Top 10 gainers", icon="list-ol",
                                    tooltip="watch the top 10 % gainers of the market scanner (refreshed ~30 s)")
        self.scan = None           # the ScanSubscription of watch_scan(), if any
        self._unfollow_scan: Callable[[], None] = lambda: None
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
        self._handlers = Pending()                  # tasks the widget handlers started (settle waits for them)

        # Handlers: hand the event to the loop, nothing else (they may run on a kernel subshell thread).
        self.symbol.on_action(lambda action, text: self._post(self._on_action, action, text))
        self.stop_all_button.on_click(lambda _b: self._post(self.stop_all))
        self.scan_button.on_click(lambda _b: self._post(self.watch_scan, "TOP_PERC_GAIN", 10))
        self.errors.clear_button.on_click(lambda _b: self._post(self.errors.clear))
        self.symbol.observe(lambda change: self._post(self._on_symbol_typed, change["new"]), names="value")
        self._trading_widgets = (self.trade_enabled, self.quantity, self.take_profit_pct, self.stop_loss_pct)
        if client is not None:
            client.state_event.connect(lambda *_args: self._refresh_status())
        self._refresh_status()
        self._refresh_table()
        super().__init__([
            self.status,
            W.HBox([self.symbol, self.stop_all_button, self.scan_button]),
            W.HBox([self.lookback, self.bar_size, self.trigger, self.direction, self.min_rel_volume]),
            W.HBox(list(self._trading_widgets)),
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
            self._spawn_handler(result, result.__name__.strip("_"))

    def _spawn_handler(self, coro, name: str) -> asyncio.Task:
        task = self.tasks.spawn(coro, name=name)  # its failure is reported as "name: Error: message"
        self._handlers.add(task)                  # after TaskKeeper's callback, which reports the failure
        return task

    async def settle(self) -> None:
        """Wait until every widget event handed to the loop so far is handled, with the tasks it started."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        handled = self._loop.create_future()
        self._loop.call_soon_threadsafe(handled.set_result, None)  # FIFO: after every event posted before it
        await handled
        await self._handlers.wait()               # the tasks and their done callbacks (failures reported)

    # ---- client / status ---------------------------------------------------------------------------------
    @property
    def watchers(self) -> dict[str, WatcherView]:
        """Symbol -> watcher (stopped ones stay, with their frozen charts, until started again)."""
        return self.watchlist.watchers

    @property
    def trading(self) -> bool:
        """True when the client allows orders (the paper trading controls are enabled then)."""
        return self.client is not None and self.client.trading

    def _refresh_status(self) -> None:
        for w in self._trading_widgets:
            w.disabled = not self.trading
        self.status.value = status_html(self.client)

    def _on_symbol_typed(self, typed: str) -> None:
        text = (typed or "").strip()
        if not text or self.client is None or text.upper() in self.symbol.options:
            return
        if self._suggest_task is not None and not self._suggest_task.done():
            self._suggest_task.cancel()  # only the latest keystroke matters
        self._suggest_task = self.tasks.spawn(self._suggest(self.client, text), name="matching symbols")

    async def _suggest(self, client: ClientView, text: str) -> None:
        # Debounce: IB answers about one matching-symbols request per second, so ask only once typing pauses.
        await asyncio.sleep(_SUGGEST_DELAY)
        found = await client.matching_symbols(text)
        self.symbol.options = list(dict.fromkeys([*found, *self.symbol.options]))

    # ---- start / stop ------------------------------------------------------------------------------------
    def rule(self) -> BreakoutRule:
        """The BreakoutRule the widgets describe (ValueError if they describe an invalid one)."""
        return BreakoutRule(lookback=int(self.lookback.value), trigger=self.trigger.value,
                            direction=self.direction.value, min_rel_volume=float(self.min_rel_volume.value))

    def trade_spec(self) -> TradeSpec | None:
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

    def _settings(self, rule=None, bar_size: str | None = None, trade=None) -> dict:
        """The watcher arguments the widgets describe now (arguments given win)."""
        return {"rule": rule if rule is not None else self.rule(), "bar_size": bar_size or self.bar_size.value,
                "trade": trade if trade is not None else self.trade_spec()}

    def _on_action(self, action: str, text: str):
        """On the loop: Start (a click or Enter) or Stop, for the text the box showed when it was clicked."""
        if action == "start":
            self._spawn_handler(self._start_clicked(text), f"start {text.strip().upper()}".strip())
        else:
            self.stop(text)

    async def _start_clicked(self, text: str) -> WatcherView:
        # the watchlist checks and qualifies: an unknown symbol fails with a clear error in the error area
        return await self.watchlist.add(self._symbol_from(text), **self._settings())

    def start(self, symbol: str | None = None, *, rule=None, bar_size: str | None = None, trade=None) -> WatcherView:
        """Start watching ``symbol`` (default: the entry) with the widgets' rule; returns the watcher.

        Needs a running loop (a notebook cell or an async function). ``rule``/``bar_size``/``trade`` override the
        widgets. The watcher's task is kept and its failure is reported in the error area.
        """
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self.watchlist.start(self._symbol_from(symbol), **self._settings(rule, bar_size, trade))

    def _on_started(self, watcher: WatcherView) -> None:
        """A watcher of the list started (Start, ``start()``, the scan): its chart, its table row, its task."""
        symbol = watcher.symbol
        old_chart = self.charts.pop(symbol, None)
        if self.show_charts:
            chart = self.chart_class(watcher, window=self.window, throttle=self.throttle, height=self.chart_height,
                                     tz=self.tz)
            self.charts[symbol] = chart
            chart.stale_event.connect(lambda *_a: self._refresh_table())   # say at once when a view falls behind
            self._show_chart(symbol, chart, old_chart)
        elif old_chart is not None:
            old_chart.close()
        if watcher.task is not None:
            self.tasks.watch(watcher.task, what=f"watcher {symbol}")
        if symbol not in self.symbol.options:
            self.symbol.options = [*self.symbol.options, symbol]
        self._refresh_table()

    def stop(self, symbol: str | None = None) -> None:
        """Stop the watcher for ``symbol`` (default: the entry). Its chart stays, frozen."""
        self.watchlist.stop_nowait(self._symbol_from(symbol))
        self._refresh_table()

    def stop_all(self) -> None:
        """Stop every watcher (idempotent)."""
        self.watchlist.stop_nowait()
        self._refresh_table()

    def watch_scan(self, scan_code: str = "TOP_PERC_GAIN", rows: int = 10, **limits):
        """Watch the top ``rows`` of a market scan (``client.subscribe_scan``; limits as there): a watcher starts
        for every symbol in the scan, and the watchers the scan started stop when their symbol leaves it, at each
        refresh (~30 s). Watchers started by hand are left alone. Returns the scan subscription (its ``rows`` is
        the current list); ``stop_scan()`` ends it. Needs a running loop."""
        asyncio.get_running_loop()
        if self.client is None:
            raise ValueError("no client: a market scan needs a connection")
        self.stop_scan()
        self.scan = self.client.subscribe_scan(scan_code, rows, **limits)
        self._unfollow_scan = self.watchlist.follow_scan(self.scan, self.start, self.tasks.report)
        self.scan.error_event += lambda code, msg: self.tasks.report(ValueError(f"scan {scan_code}: {msg}"))
        return self.scan

    def stop_scan(self) -> None:
        """End the scan of ``watch_scan`` (its watchers keep running; ``stop_all()`` stops them)."""
        scan, self.scan = self.scan, None
        self._unfollow_scan()
        if scan is not None:
            scan.cancel()

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
        await self.tasks.cancel_all()
        self._refresh_table()        # (also cancels a pending table refresh)

    # ---- awaiting: the watchlist's ------------------------------------------------------------------------
    def next_signal(self, timeout: float | None = None, *, history: bool = False):
        """The next signal of any of the panel's watchers: ``(watcher, signal)`` (``Watchlist.next_signal``)."""
        return self.watchlist.next_signal(timeout, history=history)

    def wait_bars(self, count: int, timeout: float | None = None):
        """Until every running watcher has delivered ``count`` more bars (``Watchlist.wait_bars``)."""
        return self.watchlist.wait_bars(count, timeout)

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
    def _on_watcher_event(self, watcher: WatcherView, *_args) -> None:
        if watcher.state in FINISHED:
            self._refresh_table()  # final states show at once
            return
        if self._table_handle is None:
            try:
                self._table_handle = asyncio.get_running_loop().call_later(_TABLE_REFRESH, self._refresh_table)
            except RuntimeError:   # fed outside a loop (a replay in a plain script): draw now
                self._refresh_table()

    def _refresh_table(self) -> None:
        if self._table_handle is not None:
            self._table_handle.cancel()
            self._table_handle = None
        lag = {s: (c.lag_s if c.stale else None) for s, c in self.charts.items()}
        self.table.value = watchers_table_html(self.watchlist.rows(), lag, self.tz)
