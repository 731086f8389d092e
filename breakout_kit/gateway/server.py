"""``PaperGateway``: the asyncio TCP server, the registry of client sessions and the gateway-wide services.

    async with PaperGateway(port=0, seed=0, speed=60.0) as gw:
        ib = IB(); await ib.connectAsync("127.0.0.1", gw.port, clientId=1)

Services hang off the gateway so handler modules can reach them from ``session.gateway``: ``clock``
(clock.GatewayClock), ``market`` (market.Market), ``marketdata`` (marketdata.MarketData), ``pacing``
(pacing.Pacer), ``scanner`` (scanner.Scanner), ``faults`` (faults.Faults: drops, refusals, listener restarts, 1100/1101/1102, ...). Handler modules listed in ``HANDLER_MODULES`` are imported once, registering their handlers.
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import json
import logging
import os
from datetime import datetime

from ..core import calendar
from .clock import GatewayClock, parse_start
from .session import Session

log = logging.getLogger("breakout_kit.gateway")

#: Modules whose import registers message handlers (session.register). Add yours here.
HANDLER_MODULES = ["account", "contracts", "marketdata", "order_requests", "scanner"]
_loaded = False


def _load_handlers() -> None:
    global _loaded
    if not _loaded:
        for name in HANDLER_MODULES:
            importlib.import_module(f"{__package__}.{name}")
        _loaded = True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PaperGateway:
    """An embedded paper-trading gateway speaking the TWS socket protocol on ``host:port``.

    ``seed`` and ``start`` fix the synthetic market (same inputs, same prices); ``speed`` is simulated seconds per
    real second; ``pacing`` is ``"strict"`` (IB's historical-data pacing rules, error 162) or ``"off"``.
    ``state``: a file that keeps account, positions, orders, executions and the clock across restarts (state.py);
    when it exists, it decides ``seed``, ``start``, ``account`` and ``cash`` and the clock resumes where it stopped.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 0, speed: float = 1.0,
                 start: datetime | str | None = None, pacing: str = "strict", allow_remote: bool = False,
                 account: str = "DU1234567", max_market_data_lines: int = 100, plant_breakouts: bool = True,
                 readonly_api: bool = False, cash: float = 1_000_000.0, state: str | os.PathLike | None = None):
        if not isinstance(host, str) or not host:
            raise ValueError("host must be a non-empty string")
        if not _is_loopback(host) and not allow_remote:
            raise ValueError(f"refusing to listen on non-loopback host {host!r} (pass allow_remote=True)")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0..65535, got {port!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if pacing not in ("strict", "off"):
            raise ValueError(f"pacing must be 'strict' or 'off', got {pacing!r}")
        if not isinstance(account, str) or not account:
            raise ValueError("account must be a non-empty string like 'DU1234567'")
        saved = None
        self._state_lock = None
        #: client messages held while an order event is made durable (journal.py), else None
        self.held: list | None = None
        if state is not None:
            from .journal import load
            from .state_lock import StateLock

            self._state_lock = StateLock(state)     # one writer per state file; read it only once we hold it
            try:
                saved = load(state)
            except BaseException:
                self._state_lock.release()
                raise
            if saved is not None:       # the file decides which market, clock and account this is
                seed, start, account = int(saved["seed"]), saved["start"], saved["accounts"][0]
                cash = float(saved["portfolio"]["initial_cash"])
                plant_breakouts = bool(saved.get("plant_breakouts", True))
        self.host = host
        self.port = port
        self.seed = seed
        self.allow_remote = allow_remote
        self.accounts = [account]
        self.account = account
        self.next_order_id = 1
        self.max_market_data_lines = max_market_data_lines
        self.clock = GatewayClock(parse_start(start), speed, at=saved["clock"] if saved else None)
        self.sessions: set[Session] = set()
        self._by_client_id: dict[int, Session] = {}
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.base_events.Server | None = None
        self._listening = False
        self._retired: list[asyncio.base_events.Server] = []   # listeners closed by faults, awaited at stop()
        _load_handlers()
        from .market import Market
        from .marketdata import MarketData
        from .pacing import Pacer

        self.market = Market(seed=seed, start=self.clock.start, plant_breakouts=plant_breakouts)
        self.pacing = Pacer(self.clock, enabled=pacing == "strict")
        self.marketdata = MarketData(self)
        from .orders import OrderBook

        # orders, executions and the paper account (readonly_api: refuse orders like TWS's "Read-Only API")
        self.orders = OrderBook(self, readonly_api=readonly_api, cash=cash)
        from .faults import Faults
        from .scanner import Scanner

        self.faults = Faults(self)
        self.scanner = Scanner(self)
        from .state import StateError, StateFile, apply

        #: the state file writer (None without ``state``); see state.py
        self.state = StateFile(self, state) if state is not None else None
        self.journal = None
        if saved is not None:
            try:
                apply(self, saved)
            except (KeyError, IndexError, TypeError, ValueError) as e:
                self._state_lock.release()
                what = str(e) if isinstance(e, StateError) else f"is inconsistent ({type(e).__name__} {e})"
                raise StateError(f"state file {state}: {what}") from None
        if state is not None:
            from .journal import Journal

            #: the state's write-ahead journal: order events are durable before clients hear of them
            self.journal = Journal(self, state, saved)

    # ---- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> PaperGateway:
        """Bind and start serving; the gateway clock starts now."""
        if self._server is not None:
            return self
        loop = asyncio.get_running_loop()
        # build the NYSE calendar before the clock runs: built lazily by the first request instead, its second
        # of work would pass as a minute of simulated time at 60x
        calendar.warm()
        if self.state is not None:
            try:
                self.state.open()         # refuse to serve when the state cannot be written
            except BaseException:
                self.journal.close()
                self._state_lock.release()
                raise
        await self._open_listener()
        if self._state_lock is not None:
            self._state_lock.note(self.port)
        self.clock.run(loop)
        self.marketdata.start()
        self.orders.start()
        if self.state is not None:
            self.state.start()
        log.info("paper gateway listening on %s:%d (seed=%d speed=%g start=%s)", self.host, self.port, self.seed,
                 self.clock.speed, self.clock.start.isoformat())
        return self

    async def stop(self) -> None:
        """Stop listening, close every client connection and wait until they are gone (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self._listening = False
        await self.faults.aclose()
        await self.marketdata.aclose()
        await self.scanner.aclose()
        await self.orders.aclose()
        if self.state is not None:
            await self.state.aclose()
            self.journal.close()
            self._state_lock.release()
        for s in list(self.sessions):
            s.close()
        tasks = list(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=5.0)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()
        retired, self._retired = self._retired, []
        for old in retired:
            await old.wait_closed()
        log.info("paper gateway on %s:%d stopped", self.host, self.port)

    async def __aenter__(self):  # -> PaperGateway
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def serving(self) -> bool:
        """True between start() and stop() (also while a fault has the listener closed)."""
        return self._server is not None

    @property
    def listening(self) -> bool:
        """True while new connections are accepted (faults.refuse_connections / restart_listener close it)."""
        return self._listening

    async def _open_listener(self) -> None:
        """Bind ``host:port`` (the same port again after a fault closed it; asyncio sets SO_REUSEADDR)."""
        if self._listening:
            return
        server = await asyncio.start_server(self._on_connect, self.host, self.port)
        if self._server is not None:
            self._retired.append(self._server)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self._listening = True

    def _close_listener(self) -> None:
        """Stop accepting connections (connected clients stay); ``_open_listener`` binds the port again."""
        if self._listening and self._server is not None:
            # close() frees the port at once; wait_closed() would wait for every client here (3.12+): at stop()
            self._server.close()
            self._listening = False

    def _reload_state(self) -> None:
        """Round-trip the account, orders and plants through the state format (and write the file, if any), as a
        restarted TWS reloads what it keeps: used by ``faults.nightly_restart``."""
        from .state import apply, encode, snapshot

        data = snapshot(self)
        if self.state is not None:
            self.state.save_now()
            self.state.encoder.forget()
        apply(self, json.loads(encode(data)))
        self.orders.wake()

    # ---- convenience for tests and notebooks -------------------------------------------------------------
    def now(self) -> datetime:
        """The gateway clock (aware, New York)."""
        return self.clock.now()

    def symbols(self) -> list[str]:
        """The 36 most liquid symbols (the core the demos and tests use); ``universe`` has every instrument."""
        from .universe import CORE_SYMBOLS

        return list(CORE_SYMBOLS)

    @property
    def universe(self):
        """Every instrument the gateway knows (``gateway.universe.Universe``: S&P 500, ETFs, forex majors);
        ``gw.universe.frame`` is a DataFrame with symbol, primary, name, industry, price, adv, market_cap."""
        from .universe import universe

        return universe()

    def history(self, symbol: str, bar_size_seconds: int, start: datetime, end: datetime, use_rth: bool = False):
        """Server-side truth: TRADES bars of ``bar_size_seconds`` with start in [start, end), as a list of
        ``market.Bar``. Bars for the future (beyond the gateway clock) are included; use for test comparisons."""
        return self.market.bars(symbol, bar_size_seconds, start.timestamp(), end.timestamp(), use_rth=use_rth)

    # ---- session registry (used by session.py) ----------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        if self._server is None:
            writer.close()
            return
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            if task is not None:
                self._tasks.discard(task)

    def _claim_client_id(self, session: Session, client_id: int) -> bool:
        other = self._by_client_id.get(client_id)
        if other is not None and other is not session and not other.closed:
            return False
        self._by_client_id[client_id] = session
        return True

    def _session_ended(self, session: Session) -> None:
        self.sessions.discard(session)
        if session.client_id is not None and self._by_client_id.get(session.client_id) is session:
            del self._by_client_id[session.client_id]

    def session_for(self, client_id: int) -> Session | None:
        """The live session using ``client_id``, if any."""
        return self._by_client_id.get(client_id)
