"""Fault injection for the paper gateway: the failures real users hit, on demand and from a seeded plan.

    gw.faults.drop()                          # abort every client connection (or drop(client_id=3): one)
    await gw.faults.refuse_connections(2.0)   # listener closed now, for 2 real seconds: connects are refused
    await gw.faults.restart_listener()        # like a gateway restart: clients dropped, same port, state kept
    await gw.faults.nightly_restart(outage=90) # TWS's nightly restart: dropped, refused for 90 s, state reloaded
    gw.faults.connectivity_lost()             # 1100 to every client; their streams pause
    gw.faults.connectivity_restored(data_lost=True)    # 1101: paused subscriptions are dead (re-request them)
    gw.faults.connectivity_restored(data_lost=False)   # 1102: paused subscriptions stream again
    gw.faults.farm_status("market", ok=False) # 2103 (ok=True: 2104); "hmds" 2105/2106; "secdef" 2157/2158
    gw.faults.competing_session(client_id)    # 10197 on each of that client's market-data requests; they stop

    plan = FaultPlan(seed=7, count=20)        # deterministic: same seed + count -> same faults, same order
    await gw.faults.run(plan)                 # or gw.faults.script(plan) -> background task, cancelled at stop()

Durations (``refuse_connections``, the outage inside a plan step, the gaps between steps) are REAL seconds of the
event loop, not simulated ones: the client's reconnect backoff runs on real time, so real seconds are what decide
whether a client notices a fault, whatever the gateway's ``speed``.

State lives in the gateway, not in the connection or the listener: market, clock, order ids (and orders/positions,
when the orders module is loaded) survive every fault here. Only per-connection state (subscriptions) dies with a
connection, as with TWS.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import PaperGateway
    from .sim.marketdata import Sub
    from .wire.session import Session

from .wire.farms import FARMS, farm_message

log = logging.getLogger("breakout_kit.gateway")

MSG_LOST = "Connectivity between IB and Trader Workstation has been lost."
MSG_RESTORED_DATA_LOST = "Connectivity between IB and Trader Workstation has been restored - data lost."
MSG_RESTORED_DATA_KEPT = "Connectivity between IB and Trader Workstation has been restored - data maintained."
MSG_COMPETING = "No market data during competing live session"
#: what a FaultPlan draws from by default (a plan step's ``kind``)
KINDS = ("drop", "drop_all", "refuse", "restart", "lost_kept", "lost_data")
#: every kind a plan step may have (``nightly_restart`` only when asked for: FaultPlan(kinds=...), --faults S:N:K)
ALL_KINDS = (*KINDS, "nightly_restart")


@dataclass(frozen=True)
class Fault:
    """One scripted fault. ``wait``: real seconds to wait before it; ``duration``: real seconds of outage (refusal,
    listener down time, 1100 until 1101/1102); ``pick``: which client ``drop``/``refuse`` hit, as an index into the
    connected clientIds in sorted order (modulo their count), so a plan needs no clientIds up front."""

    kind: str
    wait: float = 0.0
    duration: float = 0.0
    pick: int = 0

    def __post_init__(self):
        if self.kind not in ALL_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(ALL_KINDS)}, got {self.kind!r}")
        for name in ("wait", "duration"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 3600:
                raise ValueError(f"fault {name} must be 0..3600 real seconds, got {v!r}")
        if isinstance(self.pick, bool) or not isinstance(self.pick, int) or self.pick < 0:
            raise ValueError(f"fault pick must be a non-negative int, got {self.pick!r}")


class FaultPlan:
    """``count`` faults drawn from ``kinds`` by ``random.Random(seed)``: the same arguments always give the same
    list. ``gap`` and ``outage`` are (min, max) real seconds for each step's ``wait`` and ``duration``."""

    def __init__(self, seed: int, count: int, kinds: Iterable[str] = KINDS, gap: tuple[float, float] = (0.2, 0.6),
                 outage: tuple[float, float] = (0.05, 0.3)) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
            raise ValueError(f"count must be an int in 0..100000, got {count!r}")
        kinds = tuple(kinds)
        if not kinds or any(k not in ALL_KINDS for k in kinds):
            raise ValueError(f"kinds must be a non-empty subset of {', '.join(ALL_KINDS)}, got {kinds!r}")
        for name, (lo, hi) in (("gap", gap), ("outage", outage)):
            if not 0 <= lo <= hi < 3600:
                raise ValueError(f"{name} must be (min, max) real seconds with 0 <= min <= max, got {(lo, hi)!r}")
        self.seed, self.count, self.kinds = seed, count, kinds
        rng = random.Random(seed)
        self.faults = [Fault(rng.choice(kinds), round(rng.uniform(*gap), 3), round(rng.uniform(*outage), 3),
                             rng.randrange(1 << 16)) for _ in range(count)]

    @classmethod
    def parse(cls, text: str, **kw) -> FaultPlan:
        """``"SEED:COUNT[:KIND,KIND...]"`` (the gateway's ``--faults`` option) -> plan, e.g. ``"7:20"`` or
        ``"1:1:nightly_restart"``."""
        seed, sep, rest = str(text).partition(":")
        count, _, kinds = rest.partition(":")
        if kinds:
            kw["kinds"] = tuple(k.strip() for k in kinds.split(","))
        try:
            return cls(int(seed), int(count), **kw) if sep else cls(int(seed), 10, **kw)
        except ValueError as e:
            raise ValueError(f"--faults wants SEED:COUNT[:KIND,...] like 7:20 or 1:1:nightly_restart, got {text!r} "
                             f"({e})") from None

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)

    def __repr__(self) -> str:
        return f"FaultPlan(seed={self.seed}, count={self.count}: {dict(Counter(f.kind for f in self.faults))})"


class Faults:
    """Fault injection bound to one gateway (``gw.faults``). ``injected`` counts what was done, by kind."""

    def __init__(self, gateway: PaperGateway) -> None:
        self.gw = gateway
        self.injected: Counter[str] = Counter()
        #: subscriptions paused by connectivity_lost(), per session, until 1101 (dropped) or 1102 (resumed)
        self._paused: dict[Session, list[Sub]] = {}
        self._tasks: set[asyncio.Task] = set()

    @property
    def connectivity_down(self) -> bool:
        """True between connectivity_lost() and connectivity_restored()."""
        return self.injected["lost"] > self.injected["restored"]

    def _clients(self) -> list[Session]:
        return sorted((s for s in self.gw.sessions if s.client_id is not None and not s.closed),
                      key=lambda s: s.client_id)

    # ---- connections ------------------------------------------------------------------------------------------
    def drop(self, client_id: int | None = None) -> int:
        """Abort one client's connection (``client_id``) or every connection (None), as a network failure does
        (no goodbye). Returns how many were dropped; an unknown ``client_id`` raises ValueError."""
        if client_id is None:
            victims = list(self.gw.sessions)
        else:
            if isinstance(client_id, bool) or not isinstance(client_id, int):
                raise TypeError(f"client_id must be an int or None, got {type(client_id).__name__}")
            session = self.gw.session_for(client_id)
            if session is None:
                raise ValueError(f"no client with clientId {client_id} is connected")
            victims = [session]
        for s in victims:
            s.abort()
        self.injected["drop"] += len(victims)
        log.warning("fault: dropped %d connection(s)%s", len(victims),
                    "" if client_id is None else f" (clientId {client_id})")
        return len(victims)

    def refuse_connections(self, seconds: float) -> asyncio.Task:
        """Close the listener now (connects get ECONNREFUSED) and listen on the same port again after ``seconds``
        real seconds. Returns the reopening task: ``await`` it to wait for the end of the refusal (or don't: the
        gateway cancels it at stop()). Connected clients are not touched; combine with ``drop`` to make them knock."""
        _check_seconds(seconds)
        self.injected["refuse"] += 1
        self.gw.close_listener()
        log.warning("fault: refusing connections for %.3g s", seconds)
        return self._track(asyncio.get_running_loop().create_task(self._reopen_after(seconds),
                                                                  name="paper-gateway-refusal"))

    async def _reopen_after(self, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        finally:
            if self.gw.serving:
                await self.gw.open_listener()

    async def restart_listener(self, down: float = 0.0) -> None:
        """What a gateway restart looks like to clients: every connection dropped, the port closed for ``down``
        real seconds, then listening on the same port. Gateway state (market, clock, ids, orders) is kept."""
        _check_seconds(down)
        self.injected["restart"] += 1
        self.gw.close_listener()
        for s in list(self.gw.sessions):
            s.abort()
        log.warning("fault: listener restart (down %.3g s)", down)
        try:
            await asyncio.sleep(down)
        finally:
            if self.gw.serving:
                await self.gw.open_listener()

    async def nightly_restart(self, outage: float = 1.0) -> None:
        """TWS's nightly restart: every connection closes, the port refuses connections for ``outage`` real
        seconds, then the gateway listens again with its state reloaded: account, positions, orders (open ones keep
        working), executions and the clock as they were (written to the state file first, when there is one)."""
        _check_seconds(outage)
        self.injected["nightly_restart"] += 1
        self.gw.close_listener()
        for s in list(self.gw.sessions):
            s.abort()
        self.gw.reload_state()
        log.warning("fault: nightly restart (outage %.3g s)", outage)
        try:
            await asyncio.sleep(outage)
        finally:
            if self.gw.serving:
                await self.gw.open_listener()

    # ---- TWS <-> IB connectivity --------------------------------------------------------------------------------
    def connectivity_lost(self) -> int:
        """Error 1100 to every client; their live subscriptions stop streaming (kept aside for 1102).
        Returns the number of clients told."""
        md = self.gw.marketdata
        clients = self._clients()
        for s in clients:
            subs = [sub for sub in md.subs.values() if sub.session is s]
            for sub in subs:
                md.remove(s, "hist" if sub.kind == "kutd" else sub.kind, sub.req_id)
            self._paused.setdefault(s, []).extend(subs)
            s.error(-1, 1100, MSG_LOST)
        self.injected["lost"] += 1
        log.warning("fault: connectivity lost (1100 to %d clients)", len(clients))
        return len(clients)

    def connectivity_restored(self, data_lost: bool) -> int:
        """Error 1101 (``data_lost``: every subscription of the client is gone and must be re-requested, as TWS
        does) or 1102 (data maintained: paused subscriptions stream again) to every client. Returns clients told."""
        if not isinstance(data_lost, bool):
            raise TypeError(f"data_lost must be a bool, got {type(data_lost).__name__}")
        md = self.gw.marketdata
        paused, self._paused = self._paused, {}
        clients = self._clients()
        for s in clients:
            if data_lost:
                md.drop_session(s)                # also what a client requested after the 1100: TWS drops it all
                s.error(-1, 1101, MSG_RESTORED_DATA_LOST)
            else:
                for sub in paused.get(s, ()):
                    md.add(sub)
                s.error(-1, 1102, MSG_RESTORED_DATA_KEPT)
        self.injected["restored"] += 1
        log.warning("fault: connectivity restored (%s to %d clients)", 1101 if data_lost else 1102, len(clients))
        return len(clients)

    def farm_status(self, farm: str, ok: bool) -> int:
        """Informational farm message to every client: ``farm`` "market" (2103 broken / 2104 OK), "hmds"
        (2105 / 2106) or "secdef" (2157 / 2158). Data is not affected. Returns clients told."""
        if farm not in FARMS:
            raise ValueError(f"farm must be one of {', '.join(FARMS)}, got {farm!r}")
        if not isinstance(ok, bool):
            raise TypeError(f"ok must be a bool, got {type(ok).__name__}")
        code, text = farm_message(farm, ok)
        clients = self._clients()
        for s in clients:
            s.error(-1, code, text)
        self.injected["farm"] += 1
        return len(clients)

    def competing_session(self, client_id: int) -> int:
        """Error 10197 on each live market-data request of ``client_id`` (or reqId -1 if it has none), as when the
        same user logs in elsewhere; those subscriptions stop and must be re-requested. Returns requests hit."""
        session = self.gw.session_for(client_id) if isinstance(client_id, int) else None
        if session is None:
            raise ValueError(f"no client with clientId {client_id!r} is connected")
        md = self.gw.marketdata
        subs = [sub for sub in md.subs.values() if sub.session is session]
        for sub in subs:
            md.remove(session, "hist" if sub.kind == "kutd" else sub.kind, sub.req_id)
            session.error(sub.req_id, 10197, MSG_COMPETING)
        if not subs:
            session.error(-1, 10197, MSG_COMPETING)
        self.injected["competing"] += 1
        return len(subs)

    # ---- scripted plans -----------------------------------------------------------------------------------------
    async def apply(self, fault: Fault) -> str:
        """Carry out one plan step (after its ``wait``); returns a one-line description of what was done."""
        await asyncio.sleep(fault.wait)
        clients = self._clients()
        victim = clients[fault.pick % len(clients)].client_id if clients else None
        kind = fault.kind
        if kind == "drop":
            if victim is None:
                return "drop: no client connected"
            self.drop(victim)
            return f"drop clientId {victim}"
        if kind == "drop_all":
            return f"drop_all: {self.drop()} connection(s)"
        if kind == "refuse":
            if victim is not None:
                self.drop(victim)               # someone has to knock while the door is shut
            await self.refuse_connections(fault.duration)
            return f"refuse {fault.duration:.3g} s (dropped clientId {victim})"
        if kind == "restart":
            n = len(self.gw.sessions)
            await self.restart_listener(fault.duration)
            return f"restart listener (down {fault.duration:.3g} s, {n} connection(s) dropped)"
        if kind == "nightly_restart":
            n = len(self.gw.sessions)
            await self.nightly_restart(fault.duration)
            return f"nightly restart (outage {fault.duration:.3g} s, {n} connection(s) closed, state reloaded)"
        self.connectivity_lost()
        await asyncio.sleep(fault.duration)
        told = self.connectivity_restored(data_lost=kind == "lost_data")
        return f"1100 -> {1101 if kind == 'lost_data' else 1102} after {fault.duration:.3g} s ({told} clients)"

    async def run(self, faults: Iterable[Fault], report=None) -> list[str]:
        """Apply ``faults`` in order (a FaultPlan or any list of Fault); ``report(i, line)`` is called after each.
        Returns the description lines."""
        done: list[str] = []
        for i, fault in enumerate(faults):
            if not isinstance(fault, Fault):
                raise TypeError(f"faults must be Fault objects, got {type(fault).__name__}")
            line = await self.apply(fault)
            done.append(line)
            if report is not None:
                report(i, line)
        return done

    def script(self, faults: Iterable[Fault], report=None) -> asyncio.Task:
        """``run(faults)`` as a background task on the running loop; the gateway cancels it at stop()."""
        return self._track(asyncio.get_running_loop().create_task(self.run(list(faults), report),
                                                                  name="paper-gateway-faults"))

    def _track(self, task: asyncio.Task) -> asyncio.Task:
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:   # e.g. the port was taken while refusing
            log.error("fault task %s failed: %r", task.get_name(), task.exception())

    async def aclose(self) -> None:
        """Cancel running scripts (called by the gateway's stop())."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._paused.clear()


def _check_seconds(seconds) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 3600:
        raise ValueError(f"seconds must be a number of real seconds in 0..3600, got {seconds!r}")


__all__ = ["ALL_KINDS", "FARMS", "KINDS", "Fault", "FaultPlan", "Faults"]
