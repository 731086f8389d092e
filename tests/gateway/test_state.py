"""The gateway's state file: account, positions, orders, executions and the clock survive a restart (SIGTERM and
start again), the market continues with the same prices, and the nightly-restart fault keeps everything too."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from breakout_kit.client.ib_client import IBClient
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.faults import Fault, FaultPlan
from breakout_kit.gateway.sim.state import StateError

from .conftest import wait_until

pytestmark = pytest.mark.ib
SPEED = 60.0
SESSION_OPEN = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("America/New_York"))     # as tests/conftest.py


async def start_gateway(*args: str) -> tuple[asyncio.subprocess.Process, int, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--pacing", "off", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    m = re.fullmatch(r"paper gateway listening on 127\.0\.0\.1:(\d+)\n", first)
    assert m, first + (await proc.stderr.read()).decode()[-2000:]
    banner = [(await asyncio.wait_for(proc.stdout.readline(), 10)).decode() for _ in range(2)]
    return proc, int(m.group(1)), banner


async def stop_gateway(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"paper gateway stopped" in out


async def account_view(c: IBClient) -> dict:
    """What a client sees of the account: positions, open orders, executions, the gateway clock."""
    positions = (await c.positions())[["symbol", "position", "avg_cost"]].sort_values("symbol")
    orders = (await c.open_orders())[["order_id", "perm_id", "symbol", "action", "type", "quantity", "status"]]
    fills = await c.ib.reqExecutionsAsync()
    return {"positions": positions.reset_index(drop=True),
            "orders": orders.sort_values("perm_id").reset_index(drop=True),
            "executions": sorted((f.execution.execId, f.execution.shares, f.execution.price, f.execution.permId)
                                 for f in fills),
            "clock": await c.ib.reqCurrentTimeAsync()}


async def trade_a_little(c: IBClient) -> None:
    """A filled bracket on SPY (a position, executions, two working children) and a resting one on AAPL."""
    filled = await c.place_buy_bracket_pct_async("SPY", 5, 5.0, 5.0)
    await wait_until(c.ib, lambda: filled.parent.status == "Filled", what="SPY entry filled")
    ref = await c.reference_price("AAPL")
    await c.place_buy_bracket_pct_async("AAPL", 3, 2.0, 1.0, entry=round(ref * 0.8, 2))


async def test_sigterm_and_restart_with_state_keeps_account_orders_executions_and_clock(tmp_path, client_id):
    state = tmp_path / "gw.json"
    proc, port, _ = await start_gateway("--speed", str(SPEED), "--start", "2026-11-23T09:30", "--state", str(state))
    try:
        async with IBClient(port=port, client_id=client_id, trading=True, clock_speed=SPEED) as c:
            await trade_a_little(c)
            before = await account_view(c)
            bars_before = await c.history("SPY", "1800 S", "1 min", end=before["clock"] - timedelta(minutes=1))
    finally:
        await stop_gateway(proc)
    assert len(before["executions"]) >= 1 and len(before["orders"]) == 5     # 2 SPY children + AAPL bracket
    assert before["positions"]["position"].tolist() == [5.0]
    saved = json.loads(state.read_text())
    assert saved["clock"] >= before["clock"].timestamp()

    loop = asyncio.get_running_loop()
    restarted_at = loop.time()
    proc, port, banner = await start_gateway("--speed", str(SPEED), "--state", str(state))
    try:
        assert "5 open" in banner[1] and f"{len(before['executions'])} executions" in banner[1], banner
        async with IBClient(port=port, client_id=client_id, trading=True, clock_speed=SPEED) as c:
            after = await account_view(c)
            elapsed = loop.time() - restarted_at
            bars_after = await c.history("SPY", "1800 S", "1 min", end=before["clock"] - timedelta(minutes=1))
    finally:
        await stop_gateway(proc)
    pd.testing.assert_frame_equal(after["positions"], before["positions"])
    pd.testing.assert_frame_equal(after["orders"], before["orders"])
    assert after["executions"] == before["executions"]
    # the clock resumed where it stopped (not at a new start): ahead only by the restart's own real time x speed
    gap = (after["clock"] - before["clock"]).total_seconds()
    assert 0 <= gap <= (elapsed + 5) * SPEED, (gap, elapsed)
    pd.testing.assert_frame_equal(bars_after, bars_before)       # the same market: same bars for the same times


async def test_a_killed_gateway_loses_at_most_the_last_second(tmp_path, client_id):
    """SIGKILL (no goodbye, no final write): what the once-a-second writer saved is there after the restart."""
    state = tmp_path / "gw.json"
    proc, port, _ = await start_gateway("--speed", str(SPEED), "--start", "2026-11-23T09:30", "--state", str(state),
                                        "--log-level", "DEBUG")
    writes: list[int] = []
    wrote = asyncio.Event()

    async def drain_log():          # read stderr all along (a full pipe would block the gateway's logging)
        while line := await proc.stderr.readline():
            if b"state written to" in line:
                writes.append(1)
                wrote.set()

    drain = asyncio.ensure_future(drain_log())
    try:
        async with IBClient(port=port, client_id=client_id, trading=True, clock_speed=SPEED) as c:
            await trade_a_little(c)
            before = await account_view(c)
            # the second write from now on started after everything above happened: wait for it on the log
            seen = len(writes)
            while len(writes) < seen + 2:
                wrote.clear()
                await asyncio.wait_for(wrote.wait(), 30)
    finally:
        proc.kill()
        await proc.wait()
        await drain
    proc, port, _ = await start_gateway("--speed", str(SPEED), "--state", str(state))
    try:
        async with IBClient(port=port, client_id=client_id, trading=True, clock_speed=SPEED) as c:
            after = await account_view(c)
    finally:
        await stop_gateway(proc)
    pd.testing.assert_frame_equal(after["positions"], before["positions"])
    pd.testing.assert_frame_equal(after["orders"], before["orders"])
    assert after["executions"] == before["executions"]


async def test_existing_state_file_refuses_contradicting_flags_and_garbage(tmp_path):
    state = tmp_path / "gw.json"
    async with PaperGateway(port=0, seed=3, start=SESSION_OPEN, state=state):
        pass
    assert json.loads(state.read_text())["seed"] == 3
    for flags, word in ((["--seed", "4"], "--seed 4 differs"), (["--start", "2026-11-24T09:30"], "--start")):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--state", str(state), *flags,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 2 and word in err.decode(), err.decode()
    with pytest.raises(StateError, match="does not exist"):
        PaperGateway(port=0, state=tmp_path / "no" / "such" / "gw.json")
    with pytest.raises(StateError, match="Is a directory|is a folder"):
        PaperGateway(port=0, state=tmp_path)
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    with pytest.raises(StateError, match="not a breakout_kit gateway state file"):
        PaperGateway(port=0, state=junk)


async def test_restored_gateway_resumes_the_saved_clock_and_market(tmp_path):
    state = tmp_path / "gw.json"
    async with PaperGateway(port=0, seed=5, speed=SPEED, start=SESSION_OPEN, state=state) as gw:
        planted = gw.market.plant_breakout("MSFT", SESSION_OPEN + timedelta(minutes=40), 1.0)
        truth = gw.history("MSFT", 60, planted - timedelta(minutes=5), planted + timedelta(minutes=5))
    saved = json.loads(state.read_text())
    gw2 = PaperGateway(port=0, speed=1.0, state=state)
    assert gw2.seed == 5 and gw2.clock.epoch() == saved["clock"] and gw2.clock.start == SESSION_OPEN
    assert gw2.history("MSFT", 60, planted - timedelta(minutes=5), planted + timedelta(minutes=5)) == truth


async def test_nightly_restart_refuses_then_comes_back_with_everything(tmp_path, client_id):
    state = tmp_path / "gw.json"
    async with (PaperGateway(port=0, speed=SPEED, start=SESSION_OPEN, pacing="off", state=state) as gw,
                IBClient(port=gw.port, client_id=client_id, trading=True, clock_speed=SPEED,
                         reconnect_delays=(0.05,)) as c):
        await trade_a_little(c)
        before = await account_view(c)
        states: list[str] = []
        c.state_event += states.append
        restart = asyncio.ensure_future(gw.faults.nightly_restart(outage=0.5))
        await asyncio.sleep(0)    # a yield, not a wait: the fault closes the listener before its first await
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", gw.port)
        assert not gw.listening
        await restart
        await wait_until(c.ib, lambda: c.reconnects == 1 and c.connected, what="reconnected")
        after = await account_view(c)
        assert states[:2] == ["reconnecting", "connected"]
        pd.testing.assert_frame_equal(after["positions"], before["positions"])
        pd.testing.assert_frame_equal(after["orders"], before["orders"])
        assert after["executions"] == before["executions"] and after["clock"] >= before["clock"]
        assert gw.faults.injected["nightly_restart"] == 1
        assert len(json.loads(state.read_text())["book"]["orders"]) == len(gw.orders)


def test_nightly_restart_is_a_plan_step_on_request_only():
    assert all(f.kind != "nightly_restart" for f in FaultPlan(1, 50))
    plan = FaultPlan.parse("1:3:nightly_restart", outage=(60.0, 180.0))
    assert [f.kind for f in plan] == ["nightly_restart"] * 3 and all(60 <= f.duration <= 180 for f in plan)
    with pytest.raises(ValueError, match="kind"):
        Fault("nightly")


async def test_command_line_nightly_restart_fault(tmp_path, client_id):
    state = tmp_path / "gw.json"
    proc, _, _ = await start_gateway("--speed", str(SPEED), "--start", "2026-11-23T09:30", "--state", str(state),
                                        "--faults", "3:1:nightly_restart", "--fault-gap", "0.5:0.5",
                                        "--fault-outage", "0.3:0.3")
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.startswith("faults: FaultPlan(seed=3, count=1: {'nightly_restart': 1})"), line
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("fault 1/1: nightly restart (outage 0.3 s"), line
    finally:
        await stop_gateway(proc)
    assert json.loads(state.read_text())["clock"] > SESSION_OPEN.timestamp()
