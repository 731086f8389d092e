"""The gateway's state file (``--state FILE``, ``PaperGateway(state=...)``): what survives a gateway restart.

Kept: the market's identity (seed, original start, planted moves), the simulated clock's position, the account
(cash, positions, commissions), every order with its state (held, working, done; fills, stop triggers, expiry),
every execution, the order/perm id counters and the order scheduler's last worked 5-second boundary (so no bar is
worked twice). Not kept: connections and their subscriptions (clients re-request them after reconnecting, as with
TWS).

A restarted gateway continues the same market: same seed, same plants, and its clock resumes at the saved position,
so the same times give the same prices. The file is JSON, written atomically (a temp file in the same folder, fsync,
``os.replace``) at most once per real second while the gateway runs (the clock moves, so there is always something
new) and once more at stop, so a killed gateway loses at most the last second. Writes happen in a worker thread, one
at a time; the snapshot itself is taken on the event loop, so it is consistent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .order_model import Execution, Order
from .portfolio import Position

if TYPE_CHECKING:
    from ..server import PaperGateway

log = logging.getLogger("breakout_kit.gateway")

FORMAT = "breakout_kit.gateway.state"
VERSION = 1
WRITE_INTERVAL = 1.0            # real seconds between periodic writes
_ORDER_SKIP = {"inst", "children", "fields"}
_EXEC_SKIP = {"order"}


class StateError(ValueError):
    """A state file that cannot be used (not ours, another version, an instrument the gateway does not know)."""


def _instrument(con_id: int):
    from .contracts import BY_CON_ID

    inst = BY_CON_ID.get(con_id)
    if inst is None:
        raise StateError(f"the state file names conId {con_id}, which this gateway's universe does not have")
    return inst


def _num(v):
    # JSON has no infinity: the gateway's "never" (math.inf) is stored as null
    return None if isinstance(v, float) and math.isinf(v) else v


# ---- snapshot ---------------------------------------------------------------------------------------------------
_ORDER_NAMES = [f.name for f in dataclasses.fields(Order) if f.name not in _ORDER_SKIP]
_EXEC_NAMES = [f.name for f in dataclasses.fields(Execution) if f.name not in _EXEC_SKIP]


def order_record(o: Order) -> dict:
    rec = {name: _num(getattr(o, name)) for name in _ORDER_NAMES}
    rec["con_id"] = o.inst.con_id
    rec["fields"] = {k: v for k, v in o.fields.items() if v not in ("", None)}
    return rec


def execution_record(ex: Execution) -> dict:
    rec = {name: getattr(ex, name) for name in _EXEC_NAMES}
    rec["order"] = [ex.order.client_id, ex.order.order_id]
    return rec


def snapshot(gw: PaperGateway, records: bool = True) -> dict:
    """Everything that must survive a restart, as JSON-ready data (taken on the event loop: consistent).
    ``records=False`` leaves the order and execution lists empty (``Encoder`` fills them in as text)."""
    book = gw.orders
    pf = book.portfolio
    orders = sorted(book.orders.values(), key=lambda o: o.perm_id) if records else []
    return {
        "format": FORMAT, "version": VERSION,
        "written": datetime.now().astimezone().isoformat(timespec="seconds"),
        "seed": gw.seed, "start": gw.clock.start.isoformat(), "clock": gw.clock.epoch(), "speed": gw.clock.speed,
        "accounts": gw.accounts, "next_order_id": gw.next_order_id,
        "plant_breakouts": gw.market.plant_breakouts,
        "plants": [[sym, d.isoformat(), index, size] for sym, d, index, size in gw.market.plants()],
        "portfolio": {"initial_cash": pf.initial_cash, "cash": pf.cash, "commissions": pf.commissions,
                      "positions": [[p.inst.con_id, p.quantity, p.avg_cost, p.realized]
                                    for p in pf.positions.values()]},
        "book": {"next_perm": book._next_perm, "last_boundary": book._last_boundary,
                 "max_order_id": {str(k): v for k, v in book.max_order_id.items()},
                 "orders": [order_record(o) for o in orders],
                 "executions": [execution_record(ex) for ex in book.executions] if records else []},
    }


def _dumps(data) -> str:
    return json.dumps(data, separators=(",", ":"))


def encode(data: dict) -> bytes:
    return _dumps(data).encode()


class Encoder:
    """Encodes the gateway's state for the file, keeping the JSON text of what can no longer change (finished
    orders, executions), so a busy account's periodic write re-encodes only its working orders."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, int | str], str] = {}
        self._fields: dict[tuple[str, int], tuple[dict, str]] = {}

    def encode(self, gw: PaperGateway) -> bytes:
        data = snapshot(gw, records=False)
        book = gw.orders
        orders = []
        for o in sorted(book.orders.values(), key=lambda o: o.perm_id):
            if o.done:
                key = ("o", o.perm_id)
                text = self._done.get(key)
                if text is None:
                    text = self._done[key] = _dumps(order_record(o))
                    self._fields.pop(("f", o.perm_id), None)
            else:     # working: its numbers move, its raw fields change only when modified (a new dict)
                fkey = ("f", o.perm_id)
                got = self._fields.get(fkey)
                if got is None or got[0] is not o.fields:
                    got = self._fields[fkey] = (o.fields, _dumps({k: v for k, v in o.fields.items()
                                                                   if v not in ("", None)}))
                rec = {name: _num(getattr(o, name)) for name in _ORDER_NAMES}
                rec["con_id"] = o.inst.con_id
                text = _dumps(rec)[:-1] + ',"fields":' + got[1] + "}"
            orders.append(text)
        executions = []
        for ex in book.executions:
            key = ("x", ex.exec_id)
            text = self._done.get(key)
            if text is None:
                text = self._done[key] = _dumps(execution_record(ex))
            executions.append(text)
        head = _dumps(data)
        tail = '"orders":[],"executions":[]}}'
        assert head.endswith(tail)        # "book" is the last key, its lists the last two
        return (head[:-len(tail)] + '"orders":[' + ",".join(orders) + '],"executions":[' + ",".join(executions)
                + "]}}").encode()

    def forget(self) -> None:
        """Drop the kept texts (after the book was reloaded: the same ids may now name other objects)."""
        self._done.clear()
        self._fields.clear()


# ---- reading ------------------------------------------------------------------------------------------------------
def read(path: str | os.PathLike) -> dict | None:
    """The state in ``path``, or None when the file does not exist yet. Raises StateError for anything else."""
    try:
        text = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"cannot read state file {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise StateError(f"state file {path} is not JSON (not a gateway state file?)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError(f"{path} is not a breakout_kit gateway state file")
    if data.get("version") != VERSION:
        raise StateError(f"state file {path} has version {data.get('version')!r}; this gateway reads {VERSION}")
    return data


def apply(gw: PaperGateway, data: dict) -> None:
    """Load the market plants, the account, the orders and executions of ``data`` into ``gw`` (in place; the
    clock, seed and account id are set when the gateway is built, see ``PaperGateway(state=...)``)."""
    gw.market.replant([(sym, date.fromisoformat(d), index, size) for sym, d, index, size in data["plants"]])
    gw.next_order_id = int(data["next_order_id"])
    pf = gw.orders.portfolio
    p = data["portfolio"]
    pf.initial_cash, pf.cash, pf.commissions = float(p["initial_cash"]), float(p["cash"]), float(p["commissions"])
    pf.positions = {}
    for con_id, quantity, avg_cost, realized in p["positions"]:
        pf.positions[con_id] = Position(_instrument(con_id), int(quantity), float(avg_cost), float(realized))
    b = data["book"]
    book = gw.orders
    orders: dict[tuple[int, int], Order] = {}
    names = {f.name for f in dataclasses.fields(Order)} - _ORDER_SKIP
    for rec in b["orders"]:
        kw = {k: v for k, v in rec.items() if k in names}
        if kw.get("expires_at") is None:
            kw["expires_at"] = math.inf
        o = Order(inst=_instrument(rec["con_id"]), fields=dict(rec["fields"]), **kw)
        orders[(o.client_id, o.order_id)] = o
    for o in sorted(orders.values(), key=lambda o: o.perm_id):
        parent = orders.get((o.client_id, o.parent_id)) if o.parent_id else None
        if parent is not None:
            parent.children.append(o)
    executions = []
    for rec in b["executions"]:
        kw = {k: v for k, v in rec.items() if k != "order"}
        executions.append(Execution(order=orders[tuple(rec["order"])], **kw))
    book.orders = orders
    book._pending = [o for o in sorted(orders.values(), key=lambda o: o.perm_id) if not o.done]
    book.executions = executions
    book.max_order_id = {int(k): int(v) for k, v in b["max_order_id"].items()}
    book._next_perm = int(b["next_perm"])
    book._last_boundary = b["last_boundary"]


# ---- writing ------------------------------------------------------------------------------------------------------
def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that a reader (or a crash) sees the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class StateFile:
    """The gateway's state writer (``gw.state``): periodic atomic writes while running, a last one at stop."""

    def __init__(self, gw: PaperGateway, path: str | os.PathLike) -> None:
        self.gw = gw
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise StateError(f"cannot keep the gateway state in {self.path}: folder {self.path.parent} does not exist")
        if self.path.is_dir():
            raise StateError(f"cannot keep the gateway state in {self.path}: it is a folder (give a file name)")
        self.writes = 0
        self.last_bytes = 0
        self.last_seconds = 0.0       # wall time of the last write (snapshot + encode + write)
        self._task: asyncio.Task | None = None
        self._inflight: asyncio.Future | None = None
        self.encoder = Encoder()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="paper-gateway-state")

    async def _run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(WRITE_INTERVAL)
            try:
                await self.save()
                failing = False
            except OSError as e:
                if not failing:            # say it once, not every second
                    log.error("could not write the gateway state to %s: %s", self.path, e)
                failing = True

    async def save(self) -> None:
        """Snapshot now and write it in a worker thread (waits for a write still under way first)."""
        if self._inflight is not None:
            await asyncio.shield(self._inflight)
        t0 = time.perf_counter()
        payload = self.encoder.encode(self.gw)
        self._inflight = asyncio.ensure_future(asyncio.to_thread(self._write, payload, t0))
        try:
            await asyncio.shield(self._inflight)
        finally:
            if self._inflight.done():
                self._inflight = None

    def _write(self, payload: bytes, t0: float) -> None:
        write_atomic(self.path, payload)
        self.writes += 1
        self.last_bytes = len(payload)
        self.last_seconds = time.perf_counter() - t0
        log.debug("state written to %s: %d bytes in %.1f ms", self.path, len(payload), self.last_seconds * 1e3)

    def save_now(self) -> None:
        """Snapshot and write synchronously (at stop)."""
        t0 = time.perf_counter()
        self._write(self.encoder.encode(self.gw), t0)

    async def aclose(self) -> None:
        """Stop the periodic writer, let a write under way finish, then write the final state."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._inflight is not None:
            await asyncio.gather(self._inflight, return_exceptions=True)
            self._inflight = None
        try:
            self.save_now()
        except OSError as e:
            log.error("could not write the gateway state to %s: %s", self.path, e)


__all__ = ["Encoder", "StateError", "StateFile", "apply", "read", "snapshot", "write_atomic"]
