"""IBClient: the one façade over the IB client library (ib_insync or ib_async, chosen in ``iblib``).

Everything here is async and runs on the caller's event loop (notebook kernel or ``asyncio.run`` in the CLI); only
``*Async`` IB methods are used. ``IBClient`` holds no logic of its own: it validates its arguments and delegates to
its parts, each a module of ``client/``:

- ``supervisor.Supervisor``  connect, the reconnect loop (backoff, same clientId), error routing, states
- ``contracts.Contracts``    qualify, min_tick, matching_symbols (the one symbol grammar)
- ``marketdata.MarketData``  real-time bars, scans, history, price snapshots, the benchmark probe
- ``order_desk.OrderDesk``   brackets and plain orders exactly once (``order_checks``: the checks before sending;
                             ``reconcile``: agreeing with TWS after a reconnect or a lost acknowledgement),
                             cancel, open orders, trades, executions
- ``account.Account``        positions, PnL, account summary

Safety: a client is read-only and cannot trade unless created with ``trading=True``; a live (non-``DU``) account also
needs ``allow_live=True``; every order is checked against size limits, and prices are rounded to the contract's tick.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Self

import pandas as pd

from breakout_kit.client import limits
from breakout_kit.client.account import Account
from breakout_kit.client.config import Settings, mask_account
from breakout_kit.client.contracts import Contracts, round_to_tick
from breakout_kit.client.errors import (
    ConnectError,
    ContractError,
    OrderNotSent,
    OrderRejected,
    OrderStateUnknown,
)
from breakout_kit.client.iblib import IB, Contract, Event
from breakout_kit.client.iblib import NAME as LIBRARY  # the CLI tunes its logger
from breakout_kit.client.marketdata import PACING_VIOLATION, MarketData, bars_to_frame, utc
from breakout_kit.client.order_desk import OrderDesk, Transport
from breakout_kit.client.orders import Bracket, PlacedOrder
from breakout_kit.client.pacer import HistoryPacer
from breakout_kit.client.probe import Probe
from breakout_kit.client.realtime import RealTimeBars
from breakout_kit.client.scanner import ScanSubscription
from breakout_kit.client.supervisor import RECONNECT_DELAYS, STATES, Supervisor


class IBClient:
    """Connection, contracts, market data, orders and account for one IB session.

    ``host``/``port``/``client_id`` default to ``IB_HOST`` (127.0.0.1) / ``IB_PORT`` (7497) / ``IB_CLIENT_ID`` (1).
    ``readonly=None`` means read-only unless ``trading=True``. ``clock_speed`` is the server clock's speed relative to
    real time (the embedded gateway's ``speed``); it scales the client-side pacing windows and is 1 for TWS.
    ``throttle=False`` turns off the client library's own limit on outgoing requests (45 per second, under TWS's 50
    messages per second): only for servers that don't enforce that limit, such as an embedded gateway started with
    ``max_message_rate=None`` (by default it enforces TWS's, with error 100), e.g. to start hundreds of
    subscriptions at once in a benchmark. Incoming data is never throttled.
    ``order_transport`` replaces how each order message is sent (``order_desk.Transport``; tests use it to cut a
    bracket between its legs); None sends through the client library.
    """

    def __init__(self, host: str | None = None, port: int | None = None, client_id: int | None = None, *,
                 readonly: bool | None = None, trading: bool = False, allow_live: bool = False,
                 max_quantity: int = limits.MAX_QUANTITY, max_notional: float = limits.MAX_NOTIONAL, timeout: float = 10.0,
                 reconnect: bool = True, reconnect_delays: Iterable[float] = RECONNECT_DELAYS,
                 clock_speed: float = 1.0, throttle: bool = True, order_transport: Transport | None = None) -> None:
        readonly = (not trading) if readonly is None else bool(readonly)
        settings = Settings.resolve(host, port, client_id, readonly=readonly, trading=bool(trading),
                                    allow_live=bool(allow_live))
        if not (isinstance(max_quantity, int) and max_quantity > 0):
            raise ValueError(f"max_quantity must be a positive integer, got {max_quantity!r}")
        if not (math.isfinite(max_notional) and max_notional > 0):
            raise ValueError(f"max_notional must be positive, got {max_notional!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if not isinstance(throttle, bool):
            raise TypeError(f"throttle must be True or False, got {throttle!r}")
        self.throttle = throttle
        self._conn = Supervisor(settings, timeout=timeout, reconnect=reconnect, reconnect_delays=reconnect_delays,
                                throttle=throttle)
        self._contracts = Contracts(self._conn)
        self._market = MarketData(self._conn, self._contracts, HistoryPacer(clock_speed))
        self._orders = OrderDesk(self._conn, self._contracts, self._market, max_quantity=max_quantity,
                                 max_notional=float(max_notional), transport=order_transport)
        self._account = Account(self._conn)
        #: emits the new state string on every change
        self.state_event: Event = self._conn.state_event
        #: emits () after a reconnect or error 1101: subscriptions are gone, re-request them and backfill the gap
        self.resubscribe_event: Event = self._conn.resubscribe_event
        #: emits ``(req_id, code, message)`` for every error or notice TWS sends
        self.error_event: Event = self._conn.error_event
        #: emits an ``Execution`` for every fill on this connection, each execId once (also those that happened
        #: while the connection was down: they are emitted after the reconnect)
        self.fill_event: Event = self._orders.fill_event

    # ---- settings and state --------------------------------------------------------------------------------
    settings = property(lambda self: self._conn.settings)
    host = property(lambda self: self._conn.host)
    port = property(lambda self: self._conn.port)
    client_id = property(lambda self: self._conn.client_id)
    readonly = property(lambda self: self._conn.readonly)
    trading = property(lambda self: self._conn.settings.trading)
    allow_live = property(lambda self: self._conn.settings.allow_live)
    timeout = property(lambda self: self._conn.timeout)
    reconnect = property(lambda self: self._conn.reconnect)
    reconnect_delays = property(lambda self: self._conn.reconnect_delays)
    max_quantity = property(lambda self: self._orders.max_quantity)
    max_notional = property(lambda self: self._orders.max_notional)
    pacer = property(lambda self: self._market.pacer)

    @property
    def ib(self) -> IB:
        """The IB library's ``IB`` object (for code inside ``client/`` and tests; nothing else reaches through it)."""
        return self._conn.ib

    @property
    def state(self) -> str:
        """One of ``STATES``: disconnected, connecting, connected, reconnecting, closed."""
        return self._conn.state

    @property
    def reconnects(self) -> int:
        """How many times the connection was lost and re-established."""
        return self._conn.reconnects

    @property
    def clock_speed(self) -> float:
        """The server clock's speed relative to real time (the embedded gateway's ``speed``; 1 for TWS)."""
        return self._market.pacer.speed

    @property
    def connected(self) -> bool:
        return self._conn.connected

    @property
    def account(self) -> str:
        """The (first) managed account, e.g. ``DU1234567``; empty before the first connect."""
        return self._conn.account

    @property
    def paper(self) -> bool:
        """True for a paper-trading account (IB paper accounts start with ``DU``)."""
        return self.account.startswith("DU")

    @property
    def server_version(self) -> int:
        """The TWS / IB Gateway API server version of the current (or last) connection; 0 before connecting."""
        return self._conn.server_version

    def __repr__(self) -> str:
        acct = mask_account(self.account) if self.account else "-"
        return (f"<IBClient {self.host}:{self.port} clientId={self.client_id} {self.state} account={acct}"
                f"{' trading' if self.trading else ' read-only'}>")

    # ---- connection ----------------------------------------------------------------------------------------
    async def connect(self) -> IBClient:
        """Connect (``ib.connectAsync``); raises ``ConnectError`` with what to do when it can't."""
        await self._conn.connect()
        return self

    async def disconnect(self) -> None:
        """Disconnect and stop reconnecting (idempotent); then run the ``call_on_close`` callbacks."""
        await self._conn.disconnect()

    def call_on_close(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Await ``callback()`` after the next ``disconnect()`` (``connect()`` stops its embedded gateway this way)."""
        self._conn.call_on_close(callback)

    async def server_time(self) -> datetime:
        """TWS's clock (``reqCurrentTime``), a UTC datetime (the embedded gateway's simulated clock)."""
        return await self._conn.server_time()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.disconnect()

    # ---- contracts -----------------------------------------------------------------------------------------
    async def qualify(self, symbol_or_contract: str | Contract) -> Contract:
        """The unique IB contract for a symbol in the one grammar (``client/symbols.py``): ``AAPL`` / ``BRK.B``
        (stock, ETF), ``EURUSD`` / ``EUR.USD`` (forex), ``/ES`` (front-month future), ``ESZ6`` / ``ES 202612`` (one
        expiry), ``SPX`` (index), or a partial ``Contract``; cached. Raises ``ContractError`` naming the symbol (with
        near matches) when none or several match."""
        return await self._contracts.qualify(symbol_or_contract)

    async def min_tick(self, symbol_or_contract: str | Contract) -> float:
        """The contract's minimum price increment (from its contract details)."""
        return await self._contracts.min_tick(symbol_or_contract)

    async def matching_symbols(self, pattern: str) -> list[str]:
        """Symbols IB suggests for ``pattern``, in the grammar (``AAPL``, ``SPX``, ``/ES``, ``EURUSD``; IB allows
        about one such request per second)."""
        return await self._contracts.matching_symbols(pattern)

    # ---- market data ---------------------------------------------------------------------------------------
    def subscribe_bars(self, contract: Contract, what: str | None = None, use_rth: bool = False) -> RealTimeBars:
        """Subscribe to IB's 5-second real-time bars for a qualified contract (see ``MarketData.subscribe_bars``;
        ``what`` None: MIDPOINT for forex, TRADES otherwise)."""
        return self._market.subscribe_bars(contract, what, use_rth)

    def probe(self) -> Probe:
        """Measurement hooks on this connection for benchmarks (``client/probe.py``). ``close()`` it when done."""
        return self._market.probe()

    def subscribe_scan(self, scan_code: str, rows: int = 10, *, above_price: float | None = None,
                       below_price: float | None = None, above_volume: float | None = None,
                       market_cap_above: float | None = None, market_cap_below: float | None = None,
                       location: str = "STK.US.MAJOR", stock_type: str = "ALL",
                       filters: dict[str, float] | None = None) -> ScanSubscription:
        """Subscribe to a market scan; its ``update_event`` emits a DataFrame[rank, symbol, con_id, currency,
        market_name] on every refresh (see ``MarketData.subscribe_scan``)."""
        return self._market.subscribe_scan(
            scan_code, rows, above_price=above_price, below_price=below_price, above_volume=above_volume,
            market_cap_above=market_cap_above, market_cap_below=market_cap_below, location=location,
            stock_type=stock_type, filters=filters)

    async def scan(self, scan_code: str, rows: int = 10, **limits) -> pd.DataFrame:
        """One market scan now, e.g. ``await client.scan("TOP_PERC_GAIN", rows=10, above_price=5)`` (best first)."""
        return await self._market.scan(scan_code, rows, **limits)

    async def history(self, symbol: str | Contract, duration: str = "1 D", bar_size: str = "1 min",
                      what: str | None = None, use_rth: bool = False, end: datetime | str = "",
                      retries: int = 3) -> pd.DataFrame:
        """Historical bars as a DataFrame (UTC ``DatetimeIndex`` named ``time``; open high low close volume ...;
        ``what`` None: MIDPOINT for forex, TRADES otherwise), paced client-side by IB's rules; a pacing violation (162) anyway is retried after the window clears."""
        return await self._market.history(symbol, duration, bar_size, what, use_rth, end, retries)

    async def reference_price(self, symbol: str | Contract) -> float:
        """The last trade price (snapshot), falling back to the mid or close; raises if none is known."""
        return await self._market.reference_price(symbol)

    # ---- orders --------------------------------------------------------------------------------------------
    async def place_buy_bracket_pct_async(self, symbol: str, quantity: int, take_profit_pct: float,
                                          stop_loss_pct: float, *, entry: str | float = "market",
                                          order_ref: str | None = None, tif: str = "DAY",
                                          force: bool = False) -> Bracket:
        """Buy ``quantity`` with a take-profit ``take_profit_pct`` % above and a stop-loss ``stop_loss_pct`` % below
        the reference price (the limit price, or the last trade for a market entry); returns the ``Bracket``.

        ``order_ref`` is the idempotency key (``bk-<8 hex>`` when not given): the same key again returns the live or
        filled bracket and sends nothing. Raises ``OrderRejected`` when nothing is live (refused before sending,
        rejected by TWS, or lost in transit and verified after the reconnect: then it is an ``OrderNotSent``, also a
        ``ConnectionError``), ``OrderStateUnknown`` only while the connection is still down after a send (the
        message says what to check)."""
        return await self._orders.place_bracket(symbol, quantity, take_profit_pct, stop_loss_pct, entry=entry,
                                                order_ref=order_ref, tif=tif, force=force)

    async def place_order_async(self, symbol: str, action: str, quantity: int, *, limit: float | None = None,
                                order_ref: str | None = None, tif: str = "DAY",
                                force: bool = False) -> PlacedOrder:
        """One plain order: ``action`` "BUY" or "SELL" ``quantity`` shares at market, or at ``limit``; the same
        checks, idempotency key and failure answers as ``place_buy_bracket_pct_async``."""
        return await self._orders.place_order(symbol, action, quantity, limit=limit, order_ref=order_ref, tif=tif,
                                              force=force)

    async def cancel_order(self, order_id: int) -> PlacedOrder:
        """Cancel one open order by orderId (or permId); waits for TWS to confirm."""
        return await self._orders.cancel_order(order_id)

    async def cancel_all_orders(self) -> int:
        """Cancel every open order of the account (``reqGlobalCancel``); returns how many were open."""
        return await self._orders.cancel_all_orders()

    async def open_orders(self) -> pd.DataFrame:
        """Open orders of the whole account (all clients) as a DataFrame."""
        return await self._orders.open_orders()

    def trades(self) -> list[PlacedOrder]:
        """Every order this connection has seen this session (open and done), oldest first."""
        return self._orders.trades()

    def executions(self) -> pd.DataFrame:
        """This session's fills, each execId once, as a DataFrame (time, symbol, side, shares, price, order_id,
        order_ref, exec_id)."""
        return self._orders.executions()

    # ---- account -------------------------------------------------------------------------------------------
    async def positions(self) -> pd.DataFrame:
        """Positions of the account: symbol, position, avg_cost (+ market price/value/PnL when known)."""
        return await self._account.positions()

    async def pnl(self) -> dict[str, float]:
        """Today's profit and loss of the account (``reqPnL``): ``{"daily", "unrealized", "realized"}``; NaN where
        TWS does not know a value."""
        return await self._account.pnl()

    async def account_summary(self) -> pd.DataFrame:
        """Account summary (NetLiquidation, TotalCashValue, BuyingPower, ...) as a DataFrame tag/value/currency."""
        return await self._account.account_summary()


__all__ = ["LIBRARY", "PACING_VIOLATION", "STATES", "Bracket", "ConnectError", "ContractError", "IBClient",
           "OrderNotSent", "OrderRejected", "OrderStateUnknown", "PlacedOrder", "bars_to_frame", "mask_account", "round_to_tick",
           "utc"]
