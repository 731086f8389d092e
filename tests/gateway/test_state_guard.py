"""The state file's guards: one writer (an OS lock), no trading without persisting (unwritable folder, read-only
filesystem, full disk: refused at start, or orders refused with error 201 once a write fails), and a one-line
refusal naming the file and what is wrong for corrupt, truncated, foreign or NaN-carrying files (left untouched)."""

from __future__ import annotations

import copy
import json
import math
import shutil

import pytest

from breakout_kit.client.iblib import IB, LimitOrder, Stock
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.sim.journal import frame, generations, journal_path
from breakout_kit.gateway.sim.state import StateError

from . import durable_helpers as gwp
from .conftest import collect_errors, wait_until

pytestmark = pytest.mark.ib

AAPL = Stock("AAPL", "SMART", "USD")
MOUNT_SKIP = gwp.mount_skip_reason()
needs_mount = pytest.mark.skipif(MOUNT_SKIP is not None, reason=f"needs a small tmpfs: {MOUNT_SKIP}")


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


async def trader(port: int, client_id: int = 1) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, readonly=False, timeout=20)
    return ib


async def resting_orders(ib: IB, n: int) -> list:
    """``n`` limit buys far below the market (they rest: acknowledged as Submitted, never filled)."""
    bars = await ib.reqHistoricalDataAsync(AAPL, "", "300 S", "5 secs", "TRADES", False)
    price = round(bars[-1].close * 0.5, 2)
    return [ib.placeOrder(AAPL, LimitOrder("BUY", 1, price)) for _ in range(n)]


# ---- one writer -----------------------------------------------------------------------------------------------------
async def test_a_second_gateway_on_the_same_state_file_refuses_naming_the_running_one(tmp_path):
    state = tmp_path / "gw.json"
    first = await gwp.start(state, "--start", gwp.START)
    try:
        code, err = await gwp.refused(state)
        line = one_line(err)
        assert code != 0 and str(state) in line and f"pid {first.proc.pid}" in line and f"port {first.port}" in line
        with pytest.raises(StateError, match=f"in use by another paper gateway.*pid {first.proc.pid}"):
            PaperGateway(port=0, state=state)
    finally:
        await first.stop()
    second = await gwp.start(state)          # the lock went with the first gateway
    await second.stop()


async def test_the_lock_goes_with_a_killed_gateway(tmp_path):
    state = tmp_path / "gw.json"
    first = await gwp.start(state, "--start", gwp.START)
    await first.kill()
    second = await gwp.start(state)
    await second.stop()


# ---- cannot persist ------------------------------------------------------------------------------------------------
async def test_a_state_path_under_a_regular_file_is_refused_at_start(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, err = await gwp.refused(blocker / "gw.json")
    assert code != 0 and str(blocker / "gw.json") in one_line(err)


@needs_mount
async def test_a_read_only_filesystem_is_refused_at_start_and_the_file_left_untouched(tmp_path):
    mnt = tmp_path / "ro"
    with gwp.tmpfs(mnt, "1m", readonly=True):
        code, err = await gwp.refused(mnt / "gw.json")
        assert code != 0 and "Read-only file system" in one_line(err) and str(mnt / "gw.json") in err
    # an existing state on a filesystem remounted read-only
    good = tmp_path / "good.json"
    async with PaperGateway(port=0, start=gwp.START, state=good):
        pass
    with gwp.tmpfs(mnt, "1m"):
        shutil.copy(good, mnt / "gw.json")
        gwp.remount_read_only(mnt)
        before = (mnt / "gw.json").read_bytes()
        code, err = await gwp.refused(mnt / "gw.json")
        assert code != 0 and "Read-only file system" in one_line(err)
        assert (mnt / "gw.json").read_bytes() == before


@needs_mount
async def test_a_full_disk_is_refused_at_start(tmp_path):
    mnt = tmp_path / "full"
    with gwp.tmpfs(mnt, "64k"):
        gwp.fill(mnt / "filler")
        code, err = await gwp.refused(mnt / "gw.json")
        assert code != 0 and "No space left on device" in one_line(err) and str(mnt / "gw.json") in err


@needs_mount
async def test_a_disk_filling_up_while_trading_refuses_orders_with_201_and_loses_nothing_acknowledged(tmp_path):
    mnt = tmp_path / "small"
    with gwp.tmpfs(mnt, "64k"):
        state = mnt / "gw.json"
        gw = await gwp.start(state, "--start", gwp.START)
        ib = await trader(gw.port)
        try:
            errors = collect_errors(ib)
            trades = []
            while not any(code == 201 for _, code, _ in errors):
                assert len(trades) < 500, "the disk never filled"
                batch = await resting_orders(ib, 5)
                trades += batch
                await wait_until(ib, lambda b=batch: all(t.orderStatus.status != "PendingSubmit" for t in b),
                                 what="answers to the batch")
            refusals = [m for _, code, m in errors if code == 201]
            assert "No space left on device" in refusals[0] and str(state) in refusals[0], refusals
            acked = {t.order.permId for t in trades if t.orderStatus.status == "Submitted"}
            refused_ids = {req for req, code, _ in errors if code == 201}
            assert acked and all(t.order.orderId in refused_ids for t in trades
                                 if t.orderStatus.status != "Submitted")
            # from now on every order is refused
            late = (await resting_orders(ib, 1))[0]
            await wait_until(ib, lambda: late.order.orderId in {r for r, c, _ in errors if c == 201},
                             what="the late order refused")
            live = {t.order.permId for t in await ib.reqAllOpenOrdersAsync()}
            assert live == acked, "the gateway shows exactly what it acknowledged (the failed write rolled back)"
        finally:
            ib.disconnect()
            err = await gw.kill()
        assert "orders refused from now on: could not write the state journal" in err
        copy = tmp_path / "copy"
        copy.mkdir()
        for name, data in gwp.files_of(state).items():
            (copy / name).write_bytes(data)
    restarted = await gwp.start(copy / "gw.json")
    ib = await trader(restarted.port)
    try:
        live = {t.order.permId for t in await ib.reqAllOpenOrdersAsync()}
    finally:
        ib.disconnect()
        await restarted.stop()
    assert live == acked


# ---- corrupt, truncated, foreign files ---------------------------------------------------------------------------
_TEMPLATE: dict = {}


async def _template(tmp_path) -> dict:
    """A state with two acknowledged resting orders (made once per test run by a real gateway process)."""
    if not _TEMPLATE:
        state = tmp_path / "template.json"
        gw = await gwp.start(state, "--start", gwp.START)
        ib = await trader(gw.port)
        try:
            trades = await resting_orders(ib, 2)
            await wait_until(ib, lambda: all(t.orderStatus.status == "Submitted" for t in trades), what="acks")
        finally:
            ib.disconnect()
            await gw.stop()
        _TEMPLATE.update(json.loads(state.read_text()))
        state.unlink()
    return copy.deepcopy(_TEMPLATE)


@pytest.fixture
async def crashed_state(tmp_path):
    """The state file and journal a kill -9 right after two order acknowledgements leaves: the snapshot from
    before the orders, each order's record in the journal (written with the journal's own framing)."""
    done = await _template(tmp_path)
    before = copy.deepcopy(done)
    before["book"]["orders"] = []
    state = tmp_path / "gw.json"
    state.write_text(json.dumps(before))
    book = done["book"]
    account = {"portfolio": {k: done["portfolio"][k] for k in ("cash", "commissions", "positions")},
               "next_order_id": done["next_order_id"], "clock": done["clock"],
               **{k: book[k] for k in ("next_perm", "exec_seq", "max_order_id", "last_boundary", "reserve")}}
    lines = [frame({"format": "breakout_kit.gateway.journal", "version": 1, "state": done["instance"],
                    "gen": done["journal"]})]
    lines += [frame({"orders": [rec], "executions": [], **account}) for rec in book["orders"]]
    journal = journal_path(state, done["journal"])
    journal.write_bytes(b"".join(lines))
    return state, journal, {rec["perm_id"] for rec in book["orders"]}


def _edit(state, fn) -> None:
    data = json.loads(state.read_text())
    fn(data)
    state.write_text(json.dumps(data))


def _first_exec_for_missing_order(d):
    d["book"]["executions"].append({"order": [9, 9], "exec_id": "x", "epoch": 1.0, "side": "BOT", "shares": 1,
                                    "price": 1.0, "cum_qty": 1, "avg_price": 1.0, "exchange": "ISLAND",
                                    "commission": 1.0, "realized_pnl": None, "last_liquidity": 1})


def _undecodable_field(d):
    d["book"]["orders"][0]["fields"]["displaySize"] = "X"       # what the gateway stored unchecked before


STATE_KINDS = {
    "empty": (lambda s: s.write_bytes(b""), "is not JSON"),
    "truncated": (lambda s: s.write_bytes(s.read_bytes()[: len(s.read_bytes()) // 2]), "truncated"),
    "binary": (lambda s: s.write_bytes(bytes(range(256))), "is not JSON"),
    "foreign": (lambda s: s.write_text('{"hello": 1}'), "is not a breakout_kit gateway state file"),
    "foreign list": (lambda s: s.write_text("[1, 2]"), "is not a breakout_kit gateway state file"),
    "other version": (lambda s: _edit(s, lambda d: d.update(version=9)), "has version 9"),
    "missing key": (lambda s: _edit(s, lambda d: d.pop("portfolio")), "portfolio is missing"),
    "missing order key": (lambda s: _edit(s, lambda d: d["book"].update(orders=[{"client_id": 1}])),
                          "book.orders[0].order_id is missing"),
    "NaN cash": (lambda s: _edit(s, lambda d: d["portfolio"].update(cash=math.nan)), "portfolio.cash is nan"),
    "infinite clock": (lambda s: _edit(s, lambda d: d.update(clock=math.inf)), "clock is inf"),
    "wrong type": (lambda s: _edit(s, lambda d: d.update(seed="x")), "seed should be int"),
    "unknown conId": (lambda s: _edit(s, lambda d: d["portfolio"].update(positions=[[999999999, 1, 1.0, 0.0]])),
                      "conId 999999999"),
    "execution of no order": (lambda s: _edit(s, _first_exec_for_missing_order), "which the file does not have"),
    "undecodable order field": (lambda s: _edit(s, _undecodable_field), "'displaySize'"),
}


@pytest.mark.parametrize("kind", list(STATE_KINDS))
async def test_a_bad_state_file_is_refused_in_one_line_naming_it_and_left_untouched(crashed_state, kind):
    state, journal, _ = crashed_state
    journal.unlink()                     # the state file alone (the journal's kinds are below)
    _edit(state, lambda d: d["book"].update(orders=copy.deepcopy(_TEMPLATE["book"]["orders"])))
    spoil, words = STATE_KINDS[kind]
    spoil(state)
    before = {k: v for k, v in gwp.files_of(state).items() if not k.endswith(".lock")}
    with pytest.raises(StateError) as e:
        PaperGateway(port=0, state=state)
    msg = str(e.value)
    assert str(state) in msg and words in msg and "\n" not in msg, msg
    assert {k: v for k, v in gwp.files_of(state).items() if not k.endswith(".lock")} == before
    with pytest.raises(StateError) as again:     # the refused gateway let go of its lock: the same answer again
        PaperGateway(port=0, state=state)
    assert str(again.value) == msg
    if kind in ("NaN cash", "missing key"):      # and the command line says it in one line, exit code 2
        code, err = await gwp.refused(state)
        assert code == 2 and words in one_line(err) and str(state) in err


def _torn(journal):
    data = journal.read_bytes()
    journal.write_bytes(data[:-7])           # a crash mid-append: the last record lost its end


def _corrupt_middle(journal):
    lines = journal.read_bytes().split(b"\n")
    lines[1] = lines[1][:20] + b"X" + lines[1][21:]
    journal.write_bytes(b"\n".join(lines))


def _foreign(journal):
    lines = journal.read_bytes().split(b"\n")
    lines[0] = frame({"format": "breakout_kit.gateway.journal", "version": 1, "state": "someone-else",
                      "gen": 1}).rstrip(b"\n")
    journal.write_bytes(b"\n".join(lines))


JOURNAL_KINDS = {
    "corrupt middle record": (_corrupt_middle, "is corrupt at line 2"),
    "foreign journal": (_foreign, "belongs to another state file"),
    "not a journal": (lambda j: j.write_bytes(b"hello\nworld\n"), "is corrupt at line 1"),
}


@pytest.mark.parametrize("kind", list(JOURNAL_KINDS))
async def test_a_bad_journal_is_refused_naming_it_and_left_untouched(crashed_state, kind):
    state, journal, _ = crashed_state
    spoil, words = JOURNAL_KINDS[kind]
    spoil(journal)
    before = journal.read_bytes()
    with pytest.raises(StateError) as e:
        PaperGateway(port=0, state=state)
    assert str(journal) in str(e.value) and words in str(e.value), e.value
    assert journal.read_bytes() == before


async def test_a_journal_without_its_state_file_is_refused(crashed_state):
    state, _, _ = crashed_state
    state.unlink()
    with pytest.raises(StateError, match="is missing but its journal .* exists"):
        PaperGateway(port=0, state=state)


async def test_a_torn_last_journal_record_is_dropped_with_one_log_line(crashed_state):
    state, journal, acked = crashed_state
    records = journal.read_bytes().count(b"\n") - 1
    _torn(journal)
    gw = await gwp.start(state)
    ib = await trader(gw.port)
    try:
        live = {t.order.permId for t in await ib.reqAllOpenOrdersAsync()}
    finally:
        ib.disconnect()
        err = await gw.stop()
    assert records >= 2 and err.count("dropped a torn last record") == 1, err
    assert live == acked - {max(acked)}          # the torn record (cut by the crash) is the second order


async def test_a_crashed_state_replays_its_journal(crashed_state):
    state, _, acked = crashed_state
    gw = await gwp.start(state)
    ib = await trader(gw.port)
    try:
        live = {t.order.permId for t in await ib.reqAllOpenOrdersAsync()}
        assert ib.client.getReqId() > 1000, "order ids restart above the reservation"
    finally:
        ib.disconnect()
        await gw.stop()
    assert live == acked
    assert list(generations(state)) == [], "a clean stop folds the journal into the state file"
