"""The state file's write-ahead journal: with ``--state FILE`` an order or fill is on disk before any client hears
of it, so ``kill -9`` at any instant loses nothing a client was told.

Every event that can change orders, fills or the account runs as one *transaction* (``durably``): a placeOrder,
cancelOrder or reqGlobalCancel message, and each 5-second tick of the order scheduler. While it runs, messages to
clients are held (``gw.held``, see ``Session.send``); at its end what changed (the records of orders that changed,
new executions, the account, the id counters) is appended to the journal as one line, written and fsynced, and only
then are the held messages sent. A crash before the fsync loses only what nobody was told.

Files beside FILE (the periodic snapshot, state.py): ``FILE.journal-<gen>``. Each snapshot starts a new generation
and names it, so loading reads the snapshot and replays every generation from that one on; generations older than a
written snapshot are deleted. Appends therefore never race the snapshot written in a worker thread.

Ids: every record and snapshot reserves ``RESERVE`` order, perm and execution ids ahead; a restarted gateway starts
above the reservation, so ids strictly increase across crashes even for events that were never acknowledged.

A line is ``<crc32, 8 hex> <json>\\n``. A last line that is incomplete or fails its checksum is what a crash
mid-append leaves (never acknowledged): dropped, with one log line. A bad line followed by good ones is corruption.

If an append fails (disk full, I/O error, read-only remount), the gateway rolls its book back to what is on disk
and refuses every further order with error 201 until it is restarted: it never trades without persisting.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from .order_model import Order
from .state import StateError, apply, execution_record, order_record, read
from .state_checks import check_journal_record

if TYPE_CHECKING:
    from ..server import PaperGateway
    from .outbound import Client as Session

log = logging.getLogger("breakout_kit.gateway")

FORMAT = "breakout_kit.gateway.journal"
VERSION = 1
#: ids reserved ahead of use in every record (more than one event can consume)
RESERVE = 1000
#: TWS's code for a refused order
ERR_REFUSED = 201


def _dumps(data) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def frame(data: dict) -> bytes:
    """One journal line: checksum, space, compact JSON, newline."""
    text = _dumps(data).encode()
    return b"%08x %s\n" % (zlib.crc32(text), text)


def _unframe(line: bytes) -> dict | None:
    """The record in ``line`` (without its newline), or None when the checksum or JSON does not hold."""
    crc, _, text = line.partition(b" ")
    try:
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(text):
            return None
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def generations(path: Path) -> dict[int, Path]:
    """The journal files of state file ``path``, by generation."""
    pattern = re.compile(re.escape(path.name) + r"\.journal-(\d{1,12})")
    found = {}
    try:
        names = os.listdir(path.parent)
    except OSError:
        return {}
    for name in names:
        m = pattern.fullmatch(name)
        if m:
            found[int(m.group(1))] = path.parent / name
    return dict(sorted(found.items()))


def journal_path(path: Path, gen: int) -> Path:
    return path.with_name(f"{path.name}.journal-{gen:08d}")


# ---- reading ------------------------------------------------------------------------------------------------------
def read_records(file: Path, instance: str | None, limit: int | None = None) -> list[dict]:
    """The records of one journal file (its header checked against the snapshot's ``instance``). A torn last line
    is dropped with one log line; a bad line before good ones raises StateError. ``limit``: read only that many
    bytes (what the gateway itself knows to be complete)."""
    try:
        with open(file, "rb") as f:
            raw = f.read() if limit is None else f.read(limit)
    except OSError as e:
        raise StateError(f"cannot read state journal {file}: {e.strerror or e}") from None
    lines = raw.split(b"\n")
    records = []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and not line:
            break                          # the file ends with a complete line
        rec = _unframe(line) if not last else None     # a line without its newline is incomplete
        if rec is None:
            if all(not rest for rest in lines[i + 1:]):
                log.warning("state journal %s: dropped a torn last record (line %d, %d bytes): a write cut by a "
                            "crash, never acknowledged", file, i + 1, len(line))
                break
            raise StateError(f"state journal {file} is corrupt at line {i + 1} (bad checksum or JSON)")
        if i == 0:
            if rec.get("format") != FORMAT:
                raise StateError(f"{file} is not a breakout_kit gateway state journal")
            if rec.get("version") != VERSION:
                raise StateError(f"state journal {file} has version {rec.get('version')!r}; this gateway reads "
                                 f"{VERSION}")
            if instance is not None and rec.get("state") != instance:
                raise StateError(f"state journal {file} belongs to another state file (id {rec.get('state')!r}, "
                                 f"the state file's is {instance!r}): move it away")
            continue
        problem = check_journal_record(rec)
        if problem:
            raise StateError(f"state journal {file} line {i + 1}: {problem}")
        records.append(rec)
    return records


def replay(data: dict, records: list[dict]) -> dict:
    """``data`` (a snapshot) with the journal ``records`` applied in order (in place; returned)."""
    book = data["book"]
    orders = {(r["client_id"], r["order_id"]): r for r in book["orders"]}
    for rec in records:
        for r in rec["orders"]:
            orders[(r["client_id"], r["order_id"])] = r
        book["executions"].extend(rec["executions"])
        data["portfolio"].update(rec["portfolio"])
        data["next_order_id"] = rec["next_order_id"]
        data["clock"] = max(data["clock"], rec["clock"])
        for key in ("next_perm", "exec_seq", "max_order_id", "last_boundary", "reserve"):
            book[key] = rec[key]
    book["orders"] = sorted(orders.values(), key=lambda r: r["perm_id"])
    return data


def load(path: str | os.PathLike, limit: tuple[int, int] | None = None) -> dict | None:
    """The state of ``path``: its snapshot with its journal replayed (None when neither exists). StateError names
    the file and what is wrong. ``limit=(gen, size)``: read generation ``gen`` only up to ``size`` bytes."""
    path = Path(path)
    data = read(path)
    gens = generations(path)
    if data is None:
        if gens:
            raise StateError(f"state file {path} is missing but its journal {next(iter(gens.values()))} exists: "
                             "restore the state file or move the journal away")
        return None
    first = int(data.get("journal") or 0)
    records: list[dict] = []
    for gen, file in gens.items():
        if gen >= first:
            size = limit[1] if limit is not None and limit[0] == gen else None
            records += read_records(file, data.get("instance"), size)
    if records:
        log.info("state %s: replayed %d journal records", path, len(records))
    return replay(data, records)


# ---- writing ------------------------------------------------------------------------------------------------------
class Journal:
    """The gateway's journal (``gw.journal``): transactions, appends, generations, the halt on a failed write."""

    def __init__(self, gw: PaperGateway, path: str | os.PathLike, saved: dict | None) -> None:
        self.gw = gw
        self.path = Path(path)
        self.instance = (saved or {}).get("instance") or uuid.uuid4().hex
        known = generations(self.path)
        self.gen = max([*known, int((saved or {}).get("journal") or 0)]) + 1
        self._fd: int | None = None
        self._size = 0                # bytes known complete in the current generation's file
        self.records = 0              # appended since start
        #: why orders are refused (None while the journal works)
        self.halted: str | None = None
        self._baseline()

    # ---- change tracking -------------------------------------------------------------------------------------
    def _account(self) -> dict:
        gw = self.gw
        book = gw.orders
        pf = book.portfolio
        return {"portfolio": {"cash": pf.cash, "commissions": pf.commissions,
                              "positions": [[p.inst.con_id, p.quantity, p.avg_cost, p.realized]
                                            for p in pf.positions.values()]},
                "next_order_id": gw.next_order_id, "next_perm": book._next_perm, "exec_seq": book.exec_seq,
                "max_order_id": {str(k): v for k, v in book.max_order_id.items()}}

    def _baseline(self) -> None:
        """Take the book as it is now as already journaled (at start, after a reload)."""
        book = self.gw.orders
        for o in book.orders.values():
            o.journaled = True
        self._live = {o for o in book.orders.values() if not o.done}      # by identity
        self._seen = set(book.orders)
        self._n_exec = len(book.executions)
        self._account_text = _dumps(self._account())

    def reserve(self) -> dict:
        """Ids a restarted gateway must start above (see RESERVE)."""
        gw = self.gw
        return {"order": gw.next_order_id + RESERVE, "perm": gw.orders._next_perm + RESERVE,
                "exec": gw.orders.exec_seq + RESERVE}

    def _changed_orders(self) -> list[Order]:
        """Every order changed since the last append (``Order.journaled`` is cleared by any change): the working
        ones are in the book's pending list; one done and pruned from it since, or placed outside it, is found by
        counting."""
        book = self.gw.orders
        live = self._live
        changed, known, new = [], 0, 0
        for o in book._pending:
            if o in live:
                known += 1
            else:
                new += 1
            if not o.__dict__.get("journaled", False):
                changed.append(o)
        if known != len(live):
            pending = set(book._pending)
            changed += [o for o in live if o not in pending and not o.__dict__.get("journaled", False)]
        if len(book.orders) != len(self._seen) + new:
            listed = set(changed)
            changed += [o for key, o in book.orders.items() if key not in self._seen and o not in listed]
        return changed

    def _changes(self):
        """(record, changed orders, account text) for what changed since the last append, or None."""
        book = self.gw.orders
        changed = self._changed_orders()
        self._n_exec = min(self._n_exec, len(book.executions))     # less: the book was reloaded
        executions = [execution_record(ex) for ex in book.executions[self._n_exec:]]
        account = self._account()
        account_text = _dumps(account)
        if not changed and not executions and account_text == self._account_text:
            return None
        rec = {"orders": [order_record(o) for o in changed], "executions": executions, **account,
               "clock": self.gw.clock.epoch(), "last_boundary": book._last_boundary, "reserve": self.reserve()}
        return rec, changed, account_text

    def commit(self) -> None:
        """Append what changed (if anything) and fsync it. Raises OSError when that fails."""
        got = self._changes()
        if got is None:
            return
        rec, changed, account_text = got
        self._append(frame(rec))
        for o in changed:
            o.journaled = True
            self._seen.add((o.client_id, o.order_id))
            if o.done:
                self._live.discard(o)
            else:
                self._live.add(o)
        self._n_exec = len(self.gw.orders.executions)
        self._account_text = account_text
        self.records += 1

    # ---- files ---------------------------------------------------------------------------------------------------
    def _open(self) -> int:
        if self._fd is None:
            file = journal_path(self.path, self.gen)
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            try:
                header = frame({"format": FORMAT, "version": VERSION, "state": self.instance, "gen": self.gen})
                _write_all(fd, header)
                os.fsync(fd)
                _fsync_dir(self.path.parent)       # the new file's name is durable too
            except BaseException:
                os.close(fd)
                raise
            self._fd, self._size = fd, len(header)
        return self._fd

    def _append(self, line: bytes) -> None:
        fd = self._open()
        try:
            _write_all(fd, line)
            os.fsync(fd)
        except OSError:
            try:                   # leave no torn record behind if the filesystem still lets us
                os.ftruncate(fd, self._size)
            except OSError:
                pass
            raise
        self._size += len(line)

    def open(self) -> None:
        """Create this run's first journal file (the start-up check that the folder takes new files)."""
        self._open()

    def rotate(self) -> int:
        """Start a new generation (when the current one has records) for the snapshot being taken; returns the
        generation that snapshot must name."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd, self._size = None, 0
            self.gen += 1
        return self.gen

    def drop_before(self, gen: int) -> None:
        """Delete the generations a written snapshot (naming ``gen``) contains."""
        for g, file in generations(self.path).items():
            if g < gen:
                try:
                    os.unlink(file)
                except OSError as e:
                    log.warning("could not delete the old state journal %s: %s", file, e)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ---- transactions ----------------------------------------------------------------------------------------
    def event(self, fn, *args) -> bool:
        """Run ``fn(*args)`` as one durable event: hold client messages, journal the changes, then send them.
        False when the gateway refuses (halted before, or this event could not be written: rolled back)."""
        gw = self.gw
        if gw.held is not None:          # part of an event already under way
            fn(*args)
            return True
        if self.halted is not None:
            return False
        held: list = []
        gw.held = held
        ok = False
        try:
            fn(*args)
        finally:
            gw.held = None
            try:
                self.commit()
                ok = True
            except (OSError, ValueError) as e:     # ValueError: a number JSON cannot carry (NaN)
                self._halt(e)
            if ok:
                for session, data in held:
                    session.send_bytes(data)
        return ok

    def _halt(self, e: Exception) -> None:
        why = getattr(e, "strerror", None) or e
        self.halted = (f"the paper gateway cannot save its state to {self.path} ({why}); it takes no "
                       "orders until it is restarted with a writable --state")
        log.error("orders refused from now on: could not write the state journal %s: %s",
                  journal_path(self.path, self.gen), e)
        try:        # what clients were told is what is on disk: put the book back to that
            data = load(self.path, limit=(self.gen, self._size))
            if data is not None:
                apply(self.gw, data)
                if self.gw.state is not None:
                    self.gw.state.encoder.forget()
            self._baseline()
        except (StateError, OSError) as err:
            log.error("could not roll the order book back to %s: %s", self.path, err)

    def refusal(self) -> str:
        return f"Order rejected - reason:{self.halted}"


def durably(gw: PaperGateway, fn, *args) -> bool:
    """Run ``fn(*args)``; with a journal as one durable event (see ``Journal.event``). False: refused, nothing done."""
    journal = getattr(gw, "journal", None)
    if journal is None:
        fn(*args)
        return True
    return journal.event(fn, *args)


def refuse(session: Session, req_id: int) -> None:
    """Tell ``session`` its order request was refused because the state cannot be saved."""
    session.error(req_id, ERR_REFUSED, session.gateway.journal.refusal())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["Journal", "durably", "frame", "generations", "load", "read_records", "refuse", "replay"]
