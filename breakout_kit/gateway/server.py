"""``PaperGateway``: the asyncio TCP server, the registry of client sessions and the gateway-wide services.

    async with PaperGateway(port=0, seed=0, speed=60.0) as gw:
        ib = IB(); await ib.connectAsync("127.0.0.1", gw.port, clientId=1)

The gateway joins the two halves: ``wire/`` (sockets, sessions, the request table) and ``sim/`` (the simulated
world). Services hang off the gateway so request handlers reach them from ``session.gateway``: ``clock``
(sim.clock.GatewayClock), ``market`` (sim.market.Market), ``marketdata`` (sim.marketdata.MarketData), ``pacing``
(sim.pacing.Pacer), ``orders`` (sim.orders.OrderBook), ``scanner`` (sim.scanner.Scanner), ``faults``
(faults.Faults: drops, refusals, listener restarts, 1100/1101/1102, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
from datetime import datetime

from ..core import calendar
from .faults import Faults
from .sim import state as state_file
from .sim.clock import GatewayClock, parse_start
from .sim.market import Market
from .sim.marketdata import MarketData
from .sim.orders import OrderBook
from .sim.pacing import Pacer
from .sim.scanner import Scanner
from .sim.universe import CORE_SYMBOLS, universe
from .wire.limits import MAX_CLIENTS, MAX_MESSAGES_PER_SECOND, MAX_PENDING
from .wire.session import Session

log = logging.getLogger("breakout_kit.gateway")

def _networks(trusted_ips) -> tuple:
    """``trusted_ips`` ("a,b" or a list of addresses / networks) as ip_network objects; ValueError names a bad one."""
    if trusted_ips is None:
        return ()
    items = trusted_ips.split(",") if isinstance(trusted_ips, str) else trusted_ips
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"trusted_ips must be 'addr,addr' or a list of addresses, got {type(trusted_ips).__name__}")
    nets = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"trusted_ips entries must be strings like '192.168.1.7', got {item!r}")
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted_ips: {item.strip()!r} is not an IP address or network like "
                             "192.168.1.0/24") from None
    return tuple(nets)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names a loopback interface (``localhost``, 127.x, ::1)."""
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
    ``allow_remote`` (a non-loopback ``host``) needs ``trusted_ips``: addresses or networks that may connect
    (loopback always may). ``max_message_rate``: TWS's 50 requests per second per client (None: unlimited, for a
    benchmark driving an unthrottled client).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 0, speed: float = 1.0,
                 start: datetime | str | None = None, pacing: str = "strict", allow_remote: bool = False,
                 account: str = "DU1234567", max_market_data_lines: int = 100, plant_breakouts: bool = True,
                 readonly_api: bool = False, cash: float = 1_000_000.0, state: str | os.PathLike | None = None,
                 trusted_ips: str | list[str] | tuple[str, ...] | None = None,
                 max_message_rate: int | None = MAX_MESSAGES_PER_SECOND):
        if not isinstance(host, str) or not host:
            raise ValueError("host must be a non-empty string")
        if not isinstance(allow_remote, bool):
            raise TypeError(f"allow_remote must be True or False, got {allow_remote!r}")
        if not is_loopback(host) and not allow_remote:
            raise ValueError(f"refusing to listen on non-loopback host {host!r} (pass allow_remote=True with "
                             "trusted_ips=[...])")
        if max_message_rate is not None and (not isinstance(max_message_rate, int) or isinstance(max_message_rate, bool)
                                             or max_message_rate <= 0):
            raise ValueError(f"max_message_rate must be a positive int (TWS: 50) or None, got {max_message_rate!r}")
        trusted = _networks(trusted_ips)
        if allow_remote and not trusted:
            raise ValueError("allow_remote=True needs trusted_ips: the addresses or networks (e.g. '192.168.1.0/24') "
                             "that may connect; anyone who reaches the port can trade and read the account")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0..65535, got {port!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if pacing not in ("strict", "off"):
            raise ValueError(f"pacing must be 'strict' or 'off', got {pacing!r}")
        if not isinstance(account, str) or not account:
            raise ValueError("account must be a non-empty string like 'DU1234567'")
        saved = None
        if state is not None:
            saved = state_file.read(state)
            if saved is not None:       # the file decides which market, clock and account this is
                seed, start, account = int(saved["seed"]), saved["start"], saved["accounts"][0]
                cash = float(saved["portfolio"]["initial_cash"])
                plant_breakouts = bool(saved.get("plant_breakouts", True))
        self.host = host
        self.port = port
        self.seed = seed
        self.allow_remote = allow_remote
        #: networks (besides loopback) connections are accepted from, as TWS's "Trusted IPs"
        self.trusted_ips = trusted
        #: requests per second one client may send (TWS: 50, error 100 and a hang-up beyond); None: no limit
        self.max_message_rate = max_message_rate
        self.accounts = [account]
        self.account = account
        self.next_order_id = 1
        self.max_market_data_lines = max_market_data_lines
        self.clock = GatewayClock(parse_start(start), speed, at=saved["clock"] if saved else None)
        self.sessions: set[Session] = set()
        self._by_client_id: dict[int, Session] = {}
        self._pending: dict[Session, None] = {}     # connected, API not started yet (oldest first)
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.base_events.Server | None = None
        self._listening = False
        self._retired: list[asyncio.base_events.Server] = []   # listeners closed by faults, awaited at stop()
        self.market = Market(seed=seed, start=self.clock.start, plant_breakouts=plant_breakouts)
        self.pacing = Pacer(self.clock, enabled=pacing == "strict")
        self.marketdata = MarketData(self)
        # orders, executions and the paper account (readonly_api: refuse orders like TWS's "Read-Only API")
        self.orders = OrderBook(self, readonly_api=readonly_api, cash=cash)
        self.faults = Faults(self)
        self.scanner = Scanner(self)
        #: the state file writer (None without ``state``); see state.py
        self.state = state_file.StateFile(self, state) if state is not None else None
        if saved is not None:
            state_file.apply(self, saved)

    # ---- lifecycle --------------------------------------------------------------------------------------
    async def start(self) -> PaperGateway:
        """Bind and start serving; the gateway clock starts now."""
        if self._server is not None:
            return self
        loop = asyncio.get_running_loop()
        # build the NYSE calendar before the clock runs: built lazily by the first request instead, its second
        # of work would pass as a minute of simulated time at 60x
        calendar.warm()
        await self.open_listener()
        self.clock.run(loop)
        self.marketdata.start()
        self.orders.start()
        if self.state is not None:
            self.state.start()
        log.info("paper gateway listening on %s:%d (seed=%d speed=%g start=%s)", self.host, self.port, self.seed,
                 self.clock.speed, self.clock.start.isoformat())
        if self.allow_remote:
            log.warning("paper gateway listens on %s beyond loopback: connections from %s can place and cancel "
                        "orders and read the account", self.host, ", ".join(map(str, self.trusted_ips)))
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

    async def open_listener(self) -> None:
        """Bind ``host:port`` (the same port again after a fault closed it; asyncio sets SO_REUSEADDR)."""
        if self._listening:
            return
        server = await asyncio.start_server(self._on_connect, self.host, self.port)
        if self._server is not None:
            self._retired.append(self._server)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self._listening = True

    def close_listener(self) -> None:
        """Stop accepting connections (connected clients stay); ``open_listener`` binds the port again."""
        if self._listening and self._server is not None:
            # close() frees the port at once; wait_closed() would wait for every client here (3.12+): at stop()
            self._server.close()
            self._listening = False

    def reload_state(self) -> None:
        """Round-trip the account, orders and plants through the state format (and write the file, if any), as a
        restarted TWS reloads what it keeps: used by ``faults.nightly_restart``."""
        data = state_file.snapshot(self)
        if self.state is not None:
            self.state.save_now()
            self.state.encoder.forget()
        state_file.apply(self, json.loads(state_file.encode(data)))
        self.orders.wake()

    def spawn(self, coro, name: str) -> asyncio.Task:
        """Run ``coro`` as one of the gateway's tasks (a long answer computed in slices): stop() waits for it,
        then cancels it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- convenience for tests and notebooks -------------------------------------------------------------
    def now(self) -> datetime:
        """The gateway clock (aware, New York)."""
        return self.clock.now()

    def symbols(self) -> list[str]:
        """The 36 most liquid symbols (the core the demos and tests use); ``universe`` has every instrument."""
        return list(CORE_SYMBOLS)

    @property
    def universe(self):
        """Every instrument the gateway knows (``gateway.universe.Universe``: S&P 500, ETFs, forex majors);
        ``gw.universe.frame`` is a DataFrame with symbol, primary, name, industry, price, adv, market_cap."""
        return universe()

    def history(self, symbol: str, bar_size_seconds: int, start: datetime, end: datetime, use_rth: bool = False):
        """Server-side truth: TRADES bars of ``bar_size_seconds`` with start in [start, end), as a list of
        ``market.Bar``. Bars for the future (beyond the gateway clock) are included; use for test comparisons."""
        return self.market.bars(symbol, bar_size_seconds, start.timestamp(), end.timestamp(), use_rth=use_rth)

    # ---- session registry (used by session.py) ----------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self._server is None or not self.trusts(peer[0] if peer else ""):
            if self._server is not None:
                log.warning("refused a connection from %s: not a trusted IP (see trusted_ips / --trusted-ips)",
                            peer[0] if peer else "?")
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            return
        session = Session(self, reader, writer)
        if len(self._pending) >= MAX_PENDING:
            oldest = next(iter(self._pending))
            log.warning("%d connections have not started the API; dropping the oldest, %r", MAX_PENDING, oldest)
            del self._pending[oldest]
            oldest.abort()
        self._pending[session] = None
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            if task is not None:
                self._tasks.discard(task)

    def admit(self, session: Session, client_id: int) -> tuple[int, str] | None:
        """Let ``session`` start the API as ``client_id``; returns TWS's (code, text) refusal instead when the
        client id is taken (326) or ``MAX_CLIENTS`` clients are already served (502)."""
        other = self._by_client_id.get(client_id)
        if other is not None and other is not session and not other.closed:
            return 326, "Unable to connect as the client id is already in use. Retry with a unique client id."
        started = sum(1 for s in self._by_client_id.values() if not s.closed and s is not session)
        if started >= MAX_CLIENTS:
            return 502, (f"Couldn't connect to TWS: the paper gateway already serves its maximum of {MAX_CLIENTS} "
                         "API clients. Disconnect one and retry.")
        self._pending.pop(session, None)
        self._by_client_id[client_id] = session
        return None

    def trusts(self, address: str) -> bool:
        """Whether a connection from ``address`` is accepted: loopback always, others only from ``trusted_ips``."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if ip.is_loopback:
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.trusted_ips)

    def session_ended(self, session: Session) -> None:
        """Forget a connection that ended (called once by the session)."""
        self.sessions.discard(session)
        self._pending.pop(session, None)
        if session.client_id is not None and self._by_client_id.get(session.client_id) is session:
            del self._by_client_id[session.client_id]

    def session_for(self, client_id: int) -> Session | None:
        """The live session using ``client_id``, if any."""
        return self._by_client_id.get(client_id)
