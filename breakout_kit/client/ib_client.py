"""IBClient: the one façade over the IB client library (ib_insync or ib_async, chosen in ``iblib``).

Everything here is async and runs on the caller's event loop (notebook kernel or ``asyncio.run`` in the CLI); only
``*Async`` IB methods are used. The client supervises its connection: on a drop it reconnects with backoff under the
same clientId and fires ``resubscribe_event`` so watchers re-request their streams and backfill the gap.

Safety: a client is read-only and cannot trade unless created with ``trading=True``; a live (non-``DU``) account also
needs ``allow_live=True``; every order is checked against size limits, and prices are rounded to the contract's tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Self

import pandas as pd

from breakout_kit.client import limits
from breakout_kit.client.config import Settings, mask_account
from breakout_kit.client.iblib import IB, Contract, Event, LimitOrder, MarketOrder, Stock, StopOrder, Trade
from breakout_kit.client.iblib import NAME as LIBRARY  # noqa: F401  (the CLI tunes its logger)
from breakout_kit.client.orders import Bracket, PlacedOrder, orders_frame
from breakout_kit.client.pacer import HistoryPacer
from breakout_kit.client.probe import Probe
from breakout_kit.client.realtime import Execution, RealTimeBars
from breakout_kit.client.scanner import ScanSubscription, subscription, tag_values
from breakout_kit.core import bars
from breakout_kit.core.bars import whole_numbers

log = logging.getLogger("breakout_kit.client.ib_client")

STATES = ("disconnected", "connecting", "connected", "reconnecting", "closed")
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
PACING_VIOLATION = 162
CONNECTIVITY_LOST, RESTORED_DATA_LOST, RESTORED_DATA_KEPT = 1100, 1101, 1102
CLIENT_ID_IN_USE = 326
# TWS answers the handshake at once; a server that stays silent this long is not TWS's API port
HANDSHAKE_TIMEOUT = 3.0
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\- ]{0,11}$")
_CLASS_SHARE = re.compile(r"^([A-Z]{1,5})[./]([A-Z])$")    # BRK.B / BRK/B: IB spells share classes "BRK B"
_HISTORY_COLUMNS = ["open", "high", "low", "close", "volume"]
# IB's legal historical-data arguments: checked before sending, because TWS answers bad ones with an error that
# the request then swallows (an empty frame), and a non-bool useRTH even breaks the connection's framing.
HISTORY_WHAT = ("TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST", "HISTORICAL_VOLATILITY",
                "OPTION_IMPLIED_VOLATILITY", "REBATE_RATE", "FEE_RATE", "YIELD_BID", "YIELD_ASK", "YIELD_BID_ASK",
                "YIELD_LAST", "SCHEDULE", "AGGTRADES")
_END = re.compile(r"^(\d{8}( \d{2}:\d{2}:\d{2}( \S+)?)?|\d{8}-\d{2}:\d{2}:\d{2})$")


def _check_history_args(duration: object, bar_size: object, what: object, use_rth: object,
                        end: object) -> tuple[str, str]:
    """IB's spelling of (duration, bar_size); ValueError/TypeError for anything TWS would refuse."""
    size = bars.bar_size(bar_size)          # type: ignore[arg-type]  # it checks the type itself
    span = bars.duration(duration)          # type: ignore[arg-type]
    if what not in HISTORY_WHAT:
        raise ValueError(f"what must be one of {', '.join(HISTORY_WHAT)}; got {what!r}")
    if not isinstance(use_rth, bool):
        raise TypeError(f"use_rth must be True or False, got {type(use_rth).__name__}")
    if isinstance(end, datetime):
        if end.tzinfo is None:
            raise ValueError("end must be timezone-aware")
    elif not isinstance(end, str) or (end and not _END.match(end)):
        raise ValueError(f"end must be an aware datetime, '' (now) or 'YYYYMMDD HH:MM:SS [TZ]'; got {end!r}")
    return span, size


class ContractError(ValueError):
    """A symbol IB does not know, or one that matches several contracts."""


class OrderRejected(Exception):
    """An order refused before sending (safety checks) or rejected by TWS; the message says why."""


class ConnectError(ConnectionError):
    """Could not connect to TWS / IB Gateway / the embedded gateway; the message says what to do."""


def round_to_tick(price: float, tick: float) -> float:
    """``price`` rounded to the nearest multiple of ``tick`` (decimal arithmetic: no 0.1 + 0.2 surprises)."""
    t = Decimal(str(tick))
    return float((Decimal(str(price)) / t).quantize(Decimal(1), rounding=ROUND_HALF_UP) * t)


def _pct(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OrderRejected(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and 0 < v < 100):
        raise OrderRejected(f"{name} must be between 0 and 100 (exclusive), got {value!r}")
    return v


class IBClient:
    """Connection, contracts, history and orders for one IB session.

    ``host``/``port``/``client_id`` default to ``IB_HOST`` (127.0.0.1) / ``IB_PORT`` (7497) / ``IB_CLIENT_ID`` (1).
    ``readonly=None`` means read-only unless ``trading=True``. ``clock_speed`` is the server clock's speed relative to
    real time (the embedded gateway's ``speed``); it scales the client-side pacing windows and is 1 for TWS.
    ``throttle=False`` turns off the client library's own limit on outgoing requests (45 per second, under TWS's 50
    messages per second): only for servers that don't enforce that limit, such as the embedded gateway, e.g. to
    start hundreds of subscriptions at once in a benchmark. Incoming data is never throttled.
    """

    def __init__(self, host: str | None = None, port: int | None = None, client_id: int | None = None, *,
                 readonly: bool | None = None, trading: bool = False, allow_live: bool = False,
                 max_quantity: int = limits.MAX_QUANTITY, max_notional: float = limits.MAX_NOTIONAL, timeout: float = 10.0,
                 reconnect: bool = True, reconnect_delays: Iterable[float] = RECONNECT_DELAYS,
                 clock_speed: float = 1.0, throttle: bool = True) -> None:
        readonly = (not trading) if readonly is None else bool(readonly)
        self.settings = Settings.resolve(host, port, client_id, readonly=readonly, trading=bool(trading),
                                         allow_live=bool(allow_live))
        if not (isinstance(max_quantity, int) and max_quantity > 0):
            raise ValueError(f"max_quantity must be a positive integer, got {max_quantity!r}")
        if not (math.isfinite(max_notional) and max_notional > 0):
            raise ValueError(f"max_notional must be positive, got {max_notional!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.max_quantity = max_quantity
        self.max_notional = float(max_notional)
        self.timeout = float(timeout)
        self.reconnect = bool(reconnect)
        self.reconnect_delays = tuple(reconnect_delays) or RECONNECT_DELAYS
        self.ib = IB()
        if not isinstance(throttle, bool):
            raise TypeError(f"throttle must be True or False, got {throttle!r}")
        self.throttle = throttle
        if not throttle:
            self.ib.client.MaxRequests = 0       # the library's "no limit"
        self.pacer = HistoryPacer(clock_speed)
        self.state = "disconnected"
        #: emits the new state string on every change
        self.state_event = Event("state")
        #: emits () after a reconnect or error 1101: subscriptions are gone, re-request them and backfill the gap
        self.resubscribe_event = Event("resubscribe")
        #: emits an ``Execution`` for every fill on this connection as it happens
        self.fill_event = Event("fill")
        #: emits ``(req_id, code, message)`` for every error or notice TWS sends
        self.error_event = Event("error")
        self.reconnects = 0
        self._contracts: dict[str, Contract] = {}
        self._min_ticks: dict[int, float] = {}
        self._closing = False
        self._reconnect_task: asyncio.Task | None = None
        self._on_close: list[Callable[[], Awaitable[object]]] = []
        self._pnl_lock = asyncio.Lock()
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.errorEvent += self._on_error
        self.ib.execDetailsEvent += lambda trade, fill: self.fill_event.emit(Execution.from_fill(fill))

    # ---- settings shortcuts -------------------------------------------------------------------------------
    host = property(lambda self: self.settings.host)
    port = property(lambda self: self.settings.port)
    client_id = property(lambda self: self.settings.client_id)
    readonly = property(lambda self: self.settings.readonly)
    trading = property(lambda self: self.settings.trading)
    allow_live = property(lambda self: self.settings.allow_live)

    @property
    def clock_speed(self) -> float:
        """The server clock's speed relative to real time (the embedded gateway's ``speed``; 1 for TWS)."""
        return self.pacer.speed

    @property
    def connected(self) -> bool:
        return self.ib.isConnected()

    @property
    def account(self) -> str:
        """The (first) managed account, e.g. ``DU1234567``; empty before the first connect."""
        accounts = self.ib.client.getAccounts() if self.ib.client.isReady() else []
        return accounts[0] if accounts else getattr(self, "_account", "")

    @property
    def paper(self) -> bool:
        """True for a paper-trading account (IB paper accounts start with ``DU``)."""
        return self.account.startswith("DU")

    def __repr__(self) -> str:
        acct = mask_account(self.account) if self.account else "-"
        return (f"<IBClient {self.host}:{self.port} clientId={self.client_id} {self.state} account={acct}"
                f"{' trading' if self.trading else ' read-only'}>")

    # ---- connection ----------------------------------------------------------------------------------------
    async def connect(self) -> IBClient:
        """Connect (``ib.connectAsync``); raises ``ConnectError`` with what to do when it can't."""
        if self.connected:
            return self
        self._closing = False
        self._set_state("connecting")
        try:
            await self._connect_once()
        except BaseException:
            self._set_state("disconnected")
            raise
        self._set_state("connected")
        log.info("connected to %s:%d as clientId %d, account %s", self.host, self.port, self.client_id,
                 mask_account(self.account))
        return self

    async def _connect_once(self) -> None:
        """One connection attempt that fails fast, and says why, for each way a real setup goes wrong.

        TWS's error 326 (client id in use) and a hang-up during the handshake end the attempt at once instead of
        after the timeout; a port that accepts but never answers the handshake fails after ``HANDSHAKE_TIMEOUT``.
        """
        loop = asyncio.get_running_loop()
        refused: asyncio.Future[ConnectError] = loop.create_future()

        def fail(error: ConnectError) -> None:
            if not refused.done():
                refused.set_result(error)

        def on_error(req_id, code, msg, contract):
            if code == CLIENT_ID_IN_USE:
                fail(self._client_id_in_use())

        def on_api_error(msg: str) -> None:
            if "closed" in str(msg).lower() and not self.ib.client.isReady():
                fail(self._closed_during_handshake())

        self.ib.errorEvent += on_error
        self.ib.client.apiError += on_api_error
        attempt = loop.create_task(
            self.ib.connectAsync(self.host, self.port, clientId=self.client_id, timeout=self.timeout,
                                 readonly=self.readonly), name="ibclient-connect")
        try:
            done, _ = await asyncio.wait({attempt, refused}, timeout=min(self.timeout, HANDSHAKE_TIMEOUT),
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done and not self.ib.client.serverVersion():
                fail(self._silent_handshake(min(self.timeout, HANDSHAKE_TIMEOUT)))
            await asyncio.wait({attempt, refused}, return_when=asyncio.FIRST_COMPLETED)
            if refused.done():
                raise refused.result()
            attempt.result()
        except ConnectError:
            raise
        except asyncio.TimeoutError:  # before OSError: on Python >= 3.11 it is a subclass of it
            version = self.ib.client.serverVersion() or self.server_version
            raise ConnectError(
                f"{self.host}:{self.port} answered the API handshake (server version {version}) but did not start "
                f"the session within {self.timeout:g} s: check that TWS / IB Gateway is logged in and not waiting "
                f"on a dialog (e.g. one asking to accept the incoming API connection)") from None
        except ConnectionRefusedError:
            raise self._nothing_listening() from None
        except ConnectionError as e:  # e.g. "Socket connection broken while connecting"
            if refused.done():
                raise refused.result() from None
            raise self._closed_during_handshake() from e
        except OSError as e:
            if e.errno in (errno.ECONNREFUSED, 10061):
                raise self._nothing_listening() from None
            reason = e.strerror or str(e) or type(e).__name__
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {reason} (check the host name and "
                               f"that nothing blocks the port)") from None
        finally:
            self.ib.errorEvent -= on_error
            self.ib.client.apiError -= on_api_error
            if not attempt.done():
                attempt.cancel()        # its own cleanup disconnects the half-open socket
                with contextlib.suppress(BaseException):
                    await attempt
            elif not attempt.cancelled():
                attempt.exception()     # retrieved: the reason is reported above
        if not self.connected:     # the server hung up right after the handshake
            raise self._closed_during_handshake()
        self._account = self.account
        self._server_version = self.ib.client.serverVersion()

    def _nothing_listening(self) -> ConnectError:
        return ConnectError(
            f"nothing is listening on {self.host}:{self.port}: start TWS or IB Gateway with its API enabled and check "
            f"the socket port (TWS: Global Configuration > API > Settings, 'Enable ActiveX and Socket Clients'; "
            f"IB Gateway: Configure > Settings > API > Settings; "
            f"usual ports: TWS 7497 paper / 7496 live, IB Gateway 4002 paper / 4001 live), or use the embedded "
            f"paper gateway (no port, or python -m breakout_kit.gateway --port {self.port})")

    def _silent_handshake(self, waited: float) -> ConnectError:
        return ConnectError(
            f"{self.host}:{self.port} accepted the connection but did not answer the TWS API handshake within "
            f"{waited:g} s: is it the API port of TWS / IB Gateway? In TWS check Global Configuration > API > "
            f"Settings: 'Enable ActiveX and Socket Clients' ticked and the socket port; if TWS asks to accept the "
            f"incoming connection, accept it (or add this machine to 'Trusted IPs')")

    def _closed_during_handshake(self) -> ConnectError:
        return ConnectError(
            f"{self.host}:{self.port} closed the connection during the API handshake: in TWS / IB Gateway check "
            f"API > Settings ('Allow connections from localhost only', 'Trusted IPs') and that no other program "
            f"uses client id {self.client_id}")

    def _client_id_in_use(self) -> ConnectError:
        n = self.client_id + 1
        return ConnectError(f"clientId {self.client_id} is already in use on {self.host}:{self.port} (TWS error "
                            f"326): use another id, e.g. {n} (--client-id {n}, IB_CLIENT_ID={n} or "
                            f"IBClient(client_id={n})), or close the program connected as {self.client_id}")

    @property
    def server_version(self) -> int:
        """The TWS / IB Gateway API server version of the current (or last) connection; 0 before connecting."""
        return self.ib.client.serverVersion() or getattr(self, "_server_version", 0)

    async def server_time(self) -> datetime:
        """TWS's clock (``reqCurrentTime``), a UTC datetime (the embedded gateway's simulated clock)."""
        self._require_connection()
        t = await self._timed(self.ib.reqCurrentTimeAsync(), "current time")
        return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)

    def call_on_close(self, callback: Callable[[], Awaitable[object]]) -> None:
        """Await ``callback()`` after the next ``disconnect()`` (``connect()`` stops its embedded gateway this way)."""
        self._on_close.append(callback)

    async def disconnect(self) -> None:
        """Disconnect and stop reconnecting (idempotent); then run the ``call_on_close`` callbacks."""
        self._closing = True
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.ib.isConnected() or self.ib.client.isReady():
            self.ib.disconnect()
        self._set_state("closed")
        callbacks, self._on_close = self._on_close, []
        for callback in reversed(callbacks):
            await callback()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.disconnect()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_event.emit(state)

    def _on_disconnected(self) -> None:
        if self._closing or self.state in ("connecting", "closed", "disconnected"):
            return
        if not self.reconnect:
            log.warning("connection to %s:%d lost", self.host, self.port)
            self._set_state("disconnected")
            return
        log.warning("connection to %s:%d lost; reconnecting", self.host, self.port)
        self._set_state("reconnecting")
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop(),
                                                                          name="ibclient-reconnect")

    async def _reconnect_loop(self) -> None:
        attempt = 0
        while not self._closing:
            await asyncio.sleep(self.reconnect_delays[min(attempt, len(self.reconnect_delays) - 1)])  # backoff
            attempt += 1
            try:
                await self._connect_once()
            except ConnectError as e:
                log.info("reconnect attempt %d failed: %s", attempt, e)
                continue
            self.reconnects += 1
            log.warning("reconnected to %s:%d after %d attempt(s)", self.host, self.port, attempt)
            self._set_state("connected")
            self.resubscribe_event.emit()
            return

    def _on_error(self, req_id, code, msg, contract) -> None:
        self.error_event.emit(req_id, code, msg)
        if code == CONNECTIVITY_LOST:
            log.warning("TWS lost its connection to IB: %s", msg)
            self._set_state("reconnecting")
        elif code == RESTORED_DATA_LOST:
            log.warning("TWS connectivity restored, data lost: resubscribing")
            self._set_state("connected")
            self.resubscribe_event.emit()
        elif code == RESTORED_DATA_KEPT:
            log.info("TWS connectivity restored, data maintained")
            self._set_state("connected")

    async def _timed(self, awaitable, what: str):
        """Await an IB request, turning silence into a clear TimeoutError instead of a hang."""
        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no answer to the {what} request from {self.host}:{self.port} "
                               f"within {self.timeout:g} s") from None

    def _require_connection(self) -> None:
        if not self.connected:
            raise ConnectionError(f"not connected to {self.host}:{self.port} (state: {self.state})")

    # ---- contracts ---------------------------------------------------------------------------------------------
    async def qualify(self, symbol_or_contract: str | Contract) -> Contract:
        """The unique IB contract for a US stock symbol (SMART/USD) or a partial ``Contract``; cached.

        Share classes may be written ``BRK.B``, ``BRK/B`` or IB's own ``BRK B``.

        Raises ``ContractError`` naming the symbol when IB knows no such contract or several match.
        """
        if isinstance(symbol_or_contract, Contract):
            contract, key = symbol_or_contract, None
            name = contract.symbol or contract.localSymbol or str(contract.conId)
            if contract.conId and contract.exchange:
                return contract
        else:
            if not isinstance(symbol_or_contract, str):
                raise TypeError(f"symbol must be a str or Contract, got {type(symbol_or_contract).__name__}")
            name = key = _CLASS_SHARE.sub(r"\1 \2", symbol_or_contract.strip().upper())   # BRK.B -> IB's BRK B
            if not _SYMBOL.match(key):
                raise ContractError(f"{symbol_or_contract!r} is not a valid stock symbol")
            if key in self._contracts:
                return self._contracts[key]
            contract = Stock(key, "SMART", "USD")
        self._require_connection()
        details = await self.ib.reqContractDetailsAsync(contract)
        if not details:
            raise ContractError(f"unknown symbol {name}: IB has no matching contract")
        if len(details) > 1:
            where = ", ".join(sorted({d.contract.primaryExchange or d.contract.exchange for d in details}))
            raise ContractError(f"ambiguous symbol {name}: {len(details)} contracts match ({where}); "
                                f"pass a Contract with primaryExchange or conId")
        d = details[0]
        qualified = d.contract
        if contract.exchange:
            qualified.exchange = contract.exchange       # keep SMART routing, as qualifyContracts does
        self._min_ticks[qualified.conId] = float(d.minTick or 0.01)
        if key:
            self._contracts[key] = qualified
        return qualified

    async def min_tick(self, symbol_or_contract: str | Contract) -> float:
        """The contract's minimum price increment (from its contract details)."""
        contract = await self.qualify(symbol_or_contract)
        if contract.conId not in self._min_ticks:
            details = await self.ib.reqContractDetailsAsync(contract)
            self._min_ticks[contract.conId] = float(details[0].minTick or 0.01) if details else 0.01
        return self._min_ticks[contract.conId]

    async def matching_symbols(self, pattern: str) -> list[str]:
        """Stock symbols IB suggests for ``pattern`` (IB allows about one such request per second)."""
        pattern = (pattern or "").strip()
        if not pattern:
            return []
        self._require_connection()
        found = await self.ib.reqMatchingSymbolsAsync(pattern) or []
        return list(dict.fromkeys(d.contract.symbol for d in found if d.contract.secType == "STK"))

    # ---- live bars ----------------------------------------------------------------------------------------------
    def subscribe_bars(self, contract: Contract, what: str = "TRADES", use_rth: bool = False) -> RealTimeBars:
        """Subscribe to IB's 5-second real-time bars for a qualified contract (see ``qualify``).

        Returns a ``RealTimeBars`` whose ``bar_event`` emits each ``Bar``; ``cancel()`` ends it. After a reconnect
        or error 1101 (``resubscribe_event``) subscriptions are gone at TWS: ``detach()`` the old one and subscribe
        again.
        """
        self._require_connection()
        return RealTimeBars(self.ib, contract, what, use_rth)

    def probe(self) -> Probe:
        """Measurement hooks on this connection for benchmarks: socket reads before decoding, every bar message,
        pausing the socket, raw library subscriptions (``client/probe.py``). ``close()`` it when done."""
        return Probe(self.ib)

    # ---- scanner ------------------------------------------------------------------------------------------------
    def subscribe_scan(self, scan_code: str, rows: int = 10, *, above_price: float | None = None,
                       below_price: float | None = None, above_volume: float | None = None,
                       market_cap_above: float | None = None, market_cap_below: float | None = None,
                       location: str = "STK.US.MAJOR", stock_type: str = "ALL",
                       filters: dict[str, float] | None = None) -> ScanSubscription:
        """Subscribe to a market scan (``"TOP_PERC_GAIN"``, ``"MOST_ACTIVE"`` ...; see ``client.scanner``): its
        ``update_event`` emits a DataFrame[rank, symbol, con_id, currency, market_name] every time TWS refreshes
        it (about every 30 s). Limits are in USD / shares; ``filters`` are TWS's advanced filter tags
        (e.g. ``{"changePercAbove": 2}``). Re-requested after a reconnect; ``cancel()`` ends it."""
        sub = subscription(scan_code, rows, location=location, stock_type=stock_type, above_price=above_price,
                           below_price=below_price, above_volume=above_volume, market_cap_above=market_cap_above,
                           market_cap_below=market_cap_below)
        self._require_connection()
        return ScanSubscription(self.ib, sub, tag_values(filters), self.resubscribe_event)

    async def scan(self, scan_code: str, rows: int = 10, **limits) -> pd.DataFrame:
        """One market scan now, e.g. ``await client.scan("TOP_PERC_GAIN", rows=10, above_price=5)`` ->
        DataFrame[rank, symbol, con_id, currency, market_name], best first. Arguments as ``subscribe_scan``;
        raises ``client.scanner.ScanError`` with TWS's message if TWS refuses the scan. The first scan of a
        session can take seconds (the embedded gateway computes it over ~590 instruments): waits up to 60 s."""
        scan = self.subscribe_scan(scan_code, rows, **limits)
        try:
            return await asyncio.wait_for(scan.next_rows(), max(self.timeout, 60.0))
        except asyncio.TimeoutError:
            raise TimeoutError(f"no answer to the {scan.subscription.scanCode} scan from {self.host}:{self.port} "
                               f"within {max(self.timeout, 60.0):g} s") from None
        finally:
            scan.cancel()

    # ---- history --------------------------------------------------------------------------------------------
    async def history(self, symbol: str | Contract, duration: str = "1 D", bar_size: str = "1 min",
                      what: str = "TRADES", use_rth: bool = False, end: datetime | str = "",
                      retries: int = 3) -> pd.DataFrame:
        """Historical bars as a DataFrame (UTC ``DatetimeIndex`` named ``time``; open high low close volume ...).

        Paced client-side by IB's rules; a pacing violation (162) anyway is retried after the window clears.
        """
        duration, bar_size = _check_history_args(duration, bar_size, what, use_rth, end)
        contract = await self.qualify(symbol)
        identity = (contract.conId, str(end), duration, bar_size, what, bool(use_rth))
        for attempt in range(retries + 1):
            self._require_connection()
            paced: list[str] = []

            def on_error(req_id, code, msg, c, paced=paced):
                if code == PACING_VIOLATION and "pacing" in msg.lower():
                    paced.append(msg)

            self.ib.errorEvent += on_error
            try:
                async with self.pacer.slot(identity, (contract.conId, what)):
                    bars = await self.ib.reqHistoricalDataAsync(
                        contract, endDateTime=end, durationStr=duration, barSizeSetting=bar_size,
                        whatToShow=what, useRTH=use_rth, formatDate=2, timeout=max(self.timeout, 60.0))
            finally:
                self.ib.errorEvent -= on_error
            if not paced:
                return bars_to_frame(bars)
            log.warning("pacing violation for %s (%s); retrying", contract.symbol, paced[0])
            await asyncio.sleep(IDENTICAL_RETRY_WAIT / self.pacer.speed)   # let the 15 s identical window pass
        raise RuntimeError(f"history for {contract.symbol}: still paced after {retries} retries")

    # ---- orders -------------------------------------------------------------------------------------------------
    def _check_can_trade(self) -> None:
        if not self.trading:
            raise OrderRejected("trading is disabled: connect with IBClient(..., trading=True) to place orders "
                                "(paper accounts only unless allow_live=True)")
        if self.readonly:
            raise OrderRejected("this connection is read-only: create the client with readonly=False to trade")
        self._require_connection()
        if not self.paper and not self.allow_live:
            raise OrderRejected(f"account {mask_account(self.account)} is not a paper (DU...) account: live "
                                f"trading needs IBClient(..., allow_live=True)")

    async def reference_price(self, symbol: str | Contract) -> float:
        """The last trade price (snapshot), falling back to the mid or close; raises if none is known."""
        contract = await self.qualify(symbol)
        [ticker] = await self._timed(self.ib.reqTickersAsync(contract), "price snapshot")
        for price in (ticker.last, ticker.marketPrice(), ticker.close):
            if price is not None and math.isfinite(price) and price > 0:
                return float(price)
        raise OrderRejected(f"no price known for {contract.symbol}; pass a limit price (entry=...)")

    def _bracket_for(self, order_ref: str) -> list[Trade]:
        trades = [t for t in self.ib.trades() if t.order.orderRef == order_ref]
        return sorted(trades, key=lambda t: t.order.orderId)

    async def place_buy_bracket_pct_async(self, symbol: str, quantity: int, take_profit_pct: float,
                                          stop_loss_pct: float, *, entry: str | float = "market",
                                          order_ref: str | None = None, tif: str = "DAY") -> Bracket:
        """Buy ``quantity`` with a take-profit ``take_profit_pct`` % above and a stop-loss ``stop_loss_pct`` % below
        the reference price (the limit price, or the last trade for a market entry). Returns
        a ``Bracket`` (parent, take_profit, stop_loss; live views of the three orders). Same ``order_ref`` again
        returns the existing bracket.

        Raises ``OrderRejected`` (nothing sent) when trading is off, limits are exceeded or the numbers make no sense,
        and ``OrderRejected`` with TWS's message if TWS rejects it.
        """
        self._check_can_trade()
        quantity = self._check_quantity(quantity)
        tp_pct, sl_pct = _pct(take_profit_pct, "take_profit_pct"), _pct(stop_loss_pct, "stop_loss_pct")
        contract = await self._order_contract(symbol, tif)
        if order_ref and len(existing := self._bracket_for(order_ref)) == 3:
            log.info("bracket %s already placed; not sending it again", order_ref)
            return Bracket(*map(PlacedOrder, existing))
        tick = await self.min_tick(contract)
        if entry == "market":
            ref = await self.reference_price(contract)
            limit = None
        else:
            try:
                limit = float(entry)
            except (TypeError, ValueError):
                raise OrderRejected(f"entry must be 'market' or a limit price, got {entry!r}") from None
            if not (math.isfinite(limit) and limit > 0):
                raise OrderRejected(f"limit price must be positive, got {entry!r}")
            limit = ref = round_to_tick(limit, tick)
        tp = round_to_tick(ref * (1 + tp_pct / 100), tick)
        sl = round_to_tick(ref * (1 - sl_pct / 100), tick)
        if not sl < ref < tp:
            raise OrderRejected(f"take-profit {tp} / stop-loss {sl} must straddle the reference price {ref} "
                                f"(tick {tick}): percentages too small")
        self._check_notional(quantity, ref)
        order_ref = order_ref or f"bk-{uuid.uuid4().hex[:8]}"
        get_id = self.ib.client.getReqId
        parent = (MarketOrder("BUY", quantity) if limit is None else LimitOrder("BUY", quantity, limit))
        parent.orderId = get_id()
        take_profit = LimitOrder("SELL", quantity, tp, orderId=get_id(), parentId=parent.orderId)
        stop_loss = StopOrder("SELL", quantity, sl, orderId=get_id(), parentId=parent.orderId)
        for order, transmit in ((parent, False), (take_profit, False), (stop_loss, True)):
            order.transmit = transmit          # nothing is live until the last child arrives
            order.orderRef = order_ref
            order.tif = tif
        trades = [self.ib.placeOrder(contract, o) for o in (parent, take_profit, stop_loss)]
        await self._await_acknowledged(trades)
        log.info("bracket %s: BUY %d %s ref %.4f tp %.4f sl %.4f", order_ref, quantity, contract.symbol, ref, tp, sl)
        return Bracket(*map(PlacedOrder, trades))

    def _check_quantity(self, quantity: object) -> int:
        try:
            return limits.check_quantity(quantity, self.max_quantity)
        except limits.LimitError as e:
            raise OrderRejected(str(e)) from None

    async def _order_contract(self, symbol: str, tif: str) -> Contract:
        """The qualified contract for an order with time in force ``tif``; OrderRejected (nothing sent) otherwise."""
        if tif not in ("DAY", "GTC"):
            raise OrderRejected(f"tif must be DAY or GTC, got {tif!r}")
        try:
            return await self.qualify(symbol)
        except ContractError as e:
            raise OrderRejected(str(e)) from None

    def _check_notional(self, quantity: int, price: float) -> None:
        try:
            limits.check_notional(quantity, price, self.max_notional)
        except limits.LimitError as e:
            raise OrderRejected(str(e)) from None

    async def place_order_async(self, symbol: str, action: str, quantity: int, *, limit: float | None = None,
                                order_ref: str | None = None, tif: str = "DAY") -> PlacedOrder:
        """One plain order: ``action`` "BUY" or "SELL" ``quantity`` shares at market, or at ``limit``.

        The same safety checks as brackets (trading enabled, paper account, quantity and value limits); the CLI's
        ``sell`` and ``flatten`` use it to close positions. Returns a live view of the order once TWS has taken it.
        """
        self._check_can_trade()
        if action not in ("BUY", "SELL"):
            raise OrderRejected(f"action must be BUY or SELL, got {action!r}")
        quantity = self._check_quantity(quantity)
        contract = await self._order_contract(symbol, tif)
        if limit is None:
            order = MarketOrder(action, quantity)
            price = await self.reference_price(contract)
        else:
            if not (isinstance(limit, int | float) and math.isfinite(limit) and limit > 0):
                raise OrderRejected(f"limit price must be positive, got {limit!r}")
            price = round_to_tick(float(limit), await self.min_tick(contract))
            order = LimitOrder(action, quantity, price)
        self._check_notional(quantity, price)
        order.orderId = self.ib.client.getReqId()
        order.orderRef = order_ref or f"bk-{uuid.uuid4().hex[:8]}"
        order.tif = tif
        trade = self.ib.placeOrder(contract, order)
        await self._await_acknowledged([trade])
        log.info("order %s: %s %d %s", order.orderRef, action, quantity, contract.symbol)
        return PlacedOrder(trade)

    @staticmethod
    def _refused(trade: Trade) -> bool:
        """TWS refused the order. ib_insync cancels a trade on an order error; ib_async takes some (321, and
        110 on a live order) as warnings and sets status ValidationError: a refusal if TWS never took the order."""
        status = trade.orderStatus.status
        if status in ("Cancelled", "Inactive", "ApiCancelled"):
            return True
        never_taken = all(e.status in ("PendingSubmit", "ValidationError") for e in trade.log)
        return status == "ValidationError" and never_taken

    async def _await_acknowledged(self, trades: list[Trade]) -> None:
        """Wait until TWS has taken (or rejected) every order of a bracket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while any(t.orderStatus.status in ("PendingSubmit", "") for t in trades):
            rejected = [t for t in trades if self._refused(t)]
            if rejected:
                break
            left = deadline - loop.time()
            if left <= 0:
                raise OrderRejected("no acknowledgement from TWS for the bracket within "
                                    f"{self.timeout:g} s (order ids {[t.order.orderId for t in trades]})")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.ib.updateEvent, left)   # wakes on every processed message
        for t in trades:
            if self._refused(t) and not t.filled():
                reasons = [e.message for e in t.log if e.errorCode]
                reason = reasons[-1] if reasons else t.orderStatus.status
                if "read-only" in reason.lower():
                    raise OrderRejected(f"TWS refused order {t.order.orderId}: its API is in read-only mode; untick "
                                        f"'Read-Only API' in TWS Global Configuration > API > Settings (IB Gateway: "
                                        f"Configure > Settings > API > Settings)")
                raise OrderRejected(f"TWS rejected order {t.order.orderId}: {reason}")

    def _open_trade(self, order_id: int) -> Trade:
        for t in self.ib.openTrades():
            if t.order.orderId == order_id or t.order.permId == order_id:
                return t
        raise OrderRejected(f"no open order with id {order_id}")

    async def cancel_order(self, order_id: int) -> PlacedOrder:
        """Cancel one open order by orderId (or permId); waits for TWS to confirm."""
        if self.readonly:
            raise OrderRejected("this connection is read-only: cannot cancel orders")
        self._require_connection()
        trade = self._open_trade(int(order_id))
        self.ib.cancelOrder(trade.order)
        await self._await_done([trade])
        return PlacedOrder(trade)

    async def cancel_all_orders(self) -> int:
        """Cancel every open order of the account (``reqGlobalCancel``); returns how many were open."""
        if self.readonly:
            raise OrderRejected("this connection is read-only: cannot cancel orders")
        self._require_connection()
        open_trades = await self._timed(self.ib.reqAllOpenOrdersAsync(), "open orders")
        self.ib.reqGlobalCancel()
        # TWS reports each order's status only to the client that placed it: await our own
        mine = self.ib.client.clientId
        await self._await_done([t for t in open_trades if not t.isDone() and t.order.clientId == mine])
        return len(open_trades)

    async def _await_done(self, trades: list[Trade]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not all(t.isDone() for t in trades):
            left = deadline - loop.time()
            if left <= 0:
                pending = [t.order.orderId for t in trades if not t.isDone()]
                raise OrderRejected(f"TWS did not confirm cancelling orders {pending} within {self.timeout:g} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.ib.updateEvent, left)

    async def open_orders(self) -> pd.DataFrame:
        """Open orders of the whole account (all clients) as a DataFrame."""
        self._require_connection()
        trades = await self._timed(self.ib.reqAllOpenOrdersAsync(), "open orders")
        return orders_frame([PlacedOrder(t) for t in trades])

    def trades(self) -> list[PlacedOrder]:
        """Every order this connection has seen this session (open and done), oldest first."""
        return [PlacedOrder(t) for t in self.ib.trades()]

    def executions(self) -> pd.DataFrame:
        """This session's fills as a DataFrame (time, symbol, side, shares, price, order_id, order_ref, exec_id)."""
        rows = [Execution.from_fill(f) for f in self.ib.fills()]
        return pd.DataFrame(rows, columns=list(Execution.__dataclass_fields__))

    async def positions(self) -> pd.DataFrame:
        """Positions of the account: symbol, position, avg_cost (+ market price/value/PnL when known)."""
        self._require_connection()
        positions = await self._timed(self.ib.reqPositionsAsync(), "positions")
        marks = {p.contract.conId: p for p in self.ib.portfolio()}
        rows = []
        for p in positions:
            if not p.position:
                continue
            m = marks.get(p.contract.conId)
            rows.append({"account": mask_account(p.account), "symbol": p.contract.symbol,
                         "position": float(p.position), "avg_cost": float(p.avgCost),
                         "market_price": float(m.marketPrice) if m else math.nan,
                         "market_value": float(m.marketValue) if m else math.nan,
                         "unrealized_pnl": float(m.unrealizedPNL) if m else math.nan})
        frame = pd.DataFrame(rows, columns=["account", "symbol", "position", "avg_cost", "market_price",
                                            "market_value", "unrealized_pnl"])
        frame["position"] = whole_numbers(frame["position"])  # shares: 10, not 10.0
        return frame

    async def pnl(self) -> dict[str, float]:
        """Today's profit and loss of the account (``reqPnL``): ``{"daily", "unrealized", "realized"}``; NaN where
        TWS does not know a value."""
        self._require_connection()
        account = self.account
        loop = asyncio.get_running_loop()
        first: asyncio.Future = loop.create_future()

        def on_pnl(entry) -> None:
            if entry.account == account and not first.done():
                first.set_result(entry)

        async with self._pnl_lock:     # one reqPnL per account at a time (the library keys them by account)
            return await self._pnl_once(account, first, on_pnl)

    async def _pnl_once(self, account: str, first: asyncio.Future, on_pnl) -> dict[str, float]:
        self.ib.pnlEvent += on_pnl
        try:
            self.ib.reqPnL(account)
            try:
                entry = await self._timed(first, "PnL")
            finally:
                self.ib.cancelPnL(account)
        finally:
            self.ib.pnlEvent -= on_pnl
        return {"daily": _pnl_value(entry.dailyPnL), "unrealized": _pnl_value(entry.unrealizedPnL),
                "realized": _pnl_value(entry.realizedPnL)}

    async def account_summary(self) -> pd.DataFrame:
        """Account summary (NetLiquidation, TotalCashValue, BuyingPower, ...) as a DataFrame tag/value/currency."""
        self._require_connection()
        values = await self._timed(self.ib.accountSummaryAsync(self.account), "account summary")
        rows = [{"tag": v.tag, "value": _number(v.value), "currency": v.currency} for v in values]
        return pd.DataFrame(rows, columns=["tag", "value", "currency"])


IDENTICAL_RETRY_WAIT = 15.0


def _pnl_value(value) -> float:
    """IB sends "unset" as a huge double; those (and None) become NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) and abs(v) < 1e300 else math.nan


def _number(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


#: the exchange clock daily bars are dated in (IB sends daily and longer bars as session dates, YYYYMMDD)
SESSION_TZ = "America/New_York"


def bars_to_frame(bars) -> pd.DataFrame:
    """ib_insync ``BarData`` list -> DataFrame indexed by UTC bar start time.

    Daily and longer bars arrive as session dates (``datetime.date``): each is placed at New York midnight of its
    session (so ``index.tz_convert("America/New_York").date`` gives the session dates back), never at midnight UTC
    (which would show as the evening before in New York)."""
    if not bars:
        return pd.DataFrame(columns=_HISTORY_COLUMNS, index=pd.DatetimeIndex([], tz="UTC", name="time"),
                            dtype=float)
    dates = [b.date for b in bars]
    index = pd.DatetimeIndex(pd.to_datetime(dates))
    if index.tz is None:
        sessions = all(isinstance(d, date) and not isinstance(d, datetime) for d in dates)
        index = index.tz_localize(SESSION_TZ if sessions else "UTC")
    index = index.tz_convert("UTC")
    frame = pd.DataFrame({
        "open": [b.open for b in bars], "high": [b.high for b in bars], "low": [b.low for b in bars],
        "close": [b.close for b in bars], "volume": [float(b.volume) for b in bars],
        "average": [b.average for b in bars], "barCount": [b.barCount for b in bars],
    }, index=index.rename("time"))
    frame["volume"] = whole_numbers(frame["volume"])  # share counts: 120100, not 120100.0
    return frame


def utc(dt: datetime) -> datetime:
    """An aware datetime in UTC (naive input is rejected: IB times must not be ambiguous)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware time")
    return dt.astimezone(timezone.utc)
