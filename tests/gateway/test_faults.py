"""Fault injection (gw.faults) seen through the unmodified IB client: drops, refusals, listener restarts keeping
state, 1100 -> 1101 (subscriptions dead until re-requested) vs 1102 (streaming continues), farm status, competing
session, seeded plans and the ``--faults`` command-line option."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import pytest

from breakout_kit.client.ib_client import IBClient
from breakout_kit.client.iblib import IB, Stock
from breakout_kit.gateway.faults import KINDS, Fault, FaultPlan

from .conftest import collect_errors, connect, wait_until

pytestmark = pytest.mark.ib

SPY = Stock("SPY", "SMART", "USD")


async def lost_connection(ib):
    gone = asyncio.Event()
    ib.disconnectedEvent += gone.set
    return gone


async def test_drop_one_client_then_it_reconnects_with_the_same_id(gateway, client_id):
    async with connect(gateway, client_id) as a, connect(gateway, client_id + 1) as b:
        gone = await lost_connection(a)
        assert gateway.faults.drop(client_id) == 1
        await asyncio.wait_for(gone.wait(), 5)
        assert not a.isConnected() and b.isConnected()
        await wait_until(b, lambda: gateway.session_for(client_id) is None, what="session gone")
        await a.connectAsync("127.0.0.1", gateway.port, clientId=client_id, timeout=5)
        assert a.isConnected() and await a.reqCurrentTimeAsync()
    assert gateway.faults.injected["drop"] == 1
    with pytest.raises(ValueError, match="no client with clientId 424242"):
        gateway.faults.drop(424242)
    with pytest.raises(TypeError):
        gateway.faults.drop("1")


async def test_drop_all_and_ibclient_supervisor_reconnects(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id, reconnect_delays=(0.05,)) as c1, \
            IBClient(port=gateway.port, client_id=client_id + 1, reconnect_delays=(0.05,)) as c2:
        back = [asyncio.Event(), asyncio.Event()]
        c1.resubscribe_event += back[0].set
        c2.resubscribe_event += back[1].set
        assert gateway.faults.drop() == 2
        await asyncio.wait_for(asyncio.gather(back[0].wait(), back[1].wait()), 10)
        assert c1.connected and c2.connected and c1.reconnects == c2.reconnects == 1
        assert len(await c1.history("AAPL", duration="600 S")) > 0


async def test_refuse_for_a_while_then_accept(gateway, client_id):
    loop = asyncio.get_running_loop()
    async with IBClient(port=gateway.port, client_id=client_id, reconnect_delays=(0.05,)) as c:
        back = asyncio.Event()
        c.resubscribe_event += back.set
        refusal = gateway.faults.refuse_connections(0.6)     # closed on return; the task reopens the port
        assert not gateway.listening and gateway.serving
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", gateway.port)
        gateway.faults.drop(client_id)
        await refusal
        reopened = loop.time()
        assert gateway.listening
        await asyncio.wait_for(back.wait(), 10)
        assert loop.time() >= reopened and c.connected and c.reconnects == 1
    with pytest.raises(ValueError):
        gateway.faults.refuse_connections(-1)


async def test_listener_restart_on_the_same_port_keeps_state(gateway, client_id, session_open):
    port = gateway.port
    async with connect(gateway, client_id) as ib:
        end = session_open.strftime("%Y%m%d %H:%M:%S US/Eastern")
        before = await ib.reqHistoricalDataAsync(SPY, end, "1800 S", "1 min", "TRADES", False, 2)
        t_before = await ib.reqCurrentTimeAsync()
        ids_before = gateway.next_order_id
        gone = await lost_connection(ib)
        await gateway.faults.restart_listener(down=0.2)
        await asyncio.wait_for(gone.wait(), 5)
        assert gateway.port == port and gateway.listening
        await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=5)
        after = await ib.reqHistoricalDataAsync(SPY, end, "1800 S", "1 min", "TRADES", False, 2)
        # same market: the 30 minutes before the open are identical bar for bar; the clock did not restart
        assert [(b.date, b.close, b.volume) for b in after] == [(b.date, b.close, b.volume) for b in before]
        assert len(after) == 30
        assert await ib.reqCurrentTimeAsync() >= t_before
        assert gateway.next_order_id == ids_before
        bars = ib.reqRealTimeBars(SPY, 5, "TRADES", False)
        await wait_until(ib, lambda: len(bars) >= 2, what="bars after the restart")
    assert gateway.faults.injected["restart"] == 1


async def test_orders_and_positions_survive_a_listener_restart(gateway, client_id):
    from breakout_kit.client.iblib import MarketOrder

    async with connect(gateway, client_id, readonly=False) as ib:
        trade = ib.placeOrder(SPY, MarketOrder("BUY", 10))
        await wait_until(ib, lambda: trade.orderStatus.status == "Filled", what="fill")
        positions = [(p.contract.conId, p.position) for p in await ib.reqPositionsAsync()]
        gone = await lost_connection(ib)
        await gateway.faults.restart_listener(down=0.1)
        await asyncio.wait_for(gone.wait(), 5)
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=client_id, timeout=5, readonly=False)
        assert [(p.contract.conId, p.position) for p in await ib.reqPositionsAsync()] == positions
        assert trade.order.permId in {f.execution.permId for f in ib.fills()}


async def test_1101_kills_subscriptions_until_re_requested(gateway, client_id):
    async with connect(gateway, client_id) as ib:
        errors = collect_errors(ib)
        old = ib.reqRealTimeBars(SPY, 5, "TRADES", False)
        await wait_until(ib, lambda: len(old) >= 2, what="first bars")
        assert gateway.faults.connectivity_lost() == 1
        assert gateway.faults.connectivity_down
        assert gateway.faults.connectivity_restored(data_lost=True) == 1
        await wait_until(ib, lambda: any(e[1] == 1101 for e in errors), what="1101")
        n_old = len(old)
        assert [e[1] for e in errors if e[1] in (1100, 1101)] == [1100, 1101]
        fresh = ib.reqRealTimeBars(SPY, 5, "TRADES", False)      # what the client must do after 1101
        await wait_until(ib, lambda: len(fresh) >= 4, what="bars on the re-requested subscription")
        assert len(old) == n_old                                 # the old one stayed dead the whole time
        assert not gateway.faults.connectivity_down


async def test_1102_keeps_subscriptions_streaming(gateway, client_id):
    async with connect(gateway, client_id) as ib:
        errors = collect_errors(ib)
        bars = ib.reqRealTimeBars(SPY, 5, "TRADES", False)
        await wait_until(ib, lambda: len(bars) >= 2, what="first bars")
        gateway.faults.connectivity_lost()
        assert not any(s.session is gateway.session_for(client_id) for s in gateway.marketdata.subs.values())
        gateway.faults.connectivity_restored(data_lost=False)
        await wait_until(ib, lambda: any(e[1] == 1102 for e in errors), what="1102")
        n = len(bars)
        await wait_until(ib, lambda: len(bars) >= n + 3, what="bars after 1102 on the same subscription")
        times = [b.time for b in bars]
        assert times == sorted(set(times))                       # resumed in order, nothing repeated
        assert [e[1] for e in errors if e[1] in (1100, 1101, 1102)] == [1100, 1102]


async def test_farm_status_messages(gateway, client_id):
    async with connect(gateway, client_id) as ib:
        errors = collect_errors(ib)
        for farm, ok in (("market", False), ("market", True), ("hmds", False), ("hmds", True), ("secdef", True)):
            assert gateway.faults.farm_status(farm, ok) == 1
        await ib.reqCurrentTimeAsync()                           # processed in order: everything arrived
        assert [e[1] for e in errors] == [2103, 2104, 2105, 2106, 2158]
        assert errors[0][2] == "Market data farm connection is broken:usfarm"
        assert ib.isConnected()
    with pytest.raises(ValueError, match="farm must be one of"):
        gateway.faults.farm_status("cme", True)
    with pytest.raises(TypeError):
        gateway.faults.farm_status("market", 1)


async def test_competing_session_stops_market_data_with_10197(gateway, client_id):
    async with connect(gateway, client_id) as ib:
        errors = collect_errors(ib)
        bars = ib.reqRealTimeBars(SPY, 5, "TRADES", False)
        await wait_until(ib, lambda: len(bars) >= 1, what="first bar")
        assert gateway.faults.competing_session(client_id) == 1
        await wait_until(ib, lambda: any(e[1] == 10197 for e in errors), what="10197")
        assert [e[:2] for e in errors] == [(bars.reqId, 10197)]
        n = len(bars)
        fresh = ib.reqRealTimeBars(SPY, 5, "TRADES", False)
        await wait_until(ib, lambda: len(fresh) >= 3, what="bars on a new request")
        assert len(bars) == n
    with pytest.raises(ValueError, match="no client"):
        gateway.faults.competing_session(424242)


def test_fault_plans_are_deterministic_and_validated():
    a, b = FaultPlan(7, 50), FaultPlan(7, 50)
    assert a.faults == b.faults and len(a) == 50
    assert FaultPlan(8, 50).faults != a.faults
    assert {f.kind for f in a} == set(KINDS)
    assert all(0.2 <= f.wait <= 0.6 and 0.05 <= f.duration <= 0.3 for f in a)
    assert FaultPlan.parse("7:50").faults == a.faults
    assert {f.kind for f in FaultPlan(1, 30, kinds=["drop"])} == {"drop"}
    for bad in ("x:1", "1:-1", "1:y"):
        with pytest.raises(ValueError, match="SEED:COUNT"):
            FaultPlan.parse(bad)
    with pytest.raises(ValueError, match="kinds"):
        FaultPlan(1, 3, kinds=["meteor"])
    with pytest.raises(TypeError):
        FaultPlan("1", 3)
    with pytest.raises(ValueError, match="gap"):
        FaultPlan(1, 3, gap=(2, 1))
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="duration"):
        Fault("drop", duration=float("nan"))


async def test_scripted_plan_every_kind_then_client_is_streaming(gateway, client_id):
    plan = [Fault(kind, wait=0.05, duration=0.1, pick=i) for i, kind in enumerate(KINDS)]
    async with IBClient(port=gateway.port, client_id=client_id, reconnect_delays=(0.05,)) as c:
        lines = await gateway.faults.script(plan)
        assert len(lines) == len(KINDS) and lines[0] == f"drop clientId {client_id}"
        await wait_until(c.ib, lambda: c.connected and gateway.session_for(client_id) is not None,
                         what="reconnected")
        bars = c.ib.reqRealTimeBars(SPY, 5, "TRADES", False)
        await wait_until(c.ib, lambda: len(bars) >= 2, what="bars after the plan")
        # drop, drop_all, refuse and restart each cost the connection it has then; lost_* keep it. Faults 50 ms apart
        # may land while the client is still reconnecting from the previous one, so at least one reconnect
        assert c.reconnects >= 1
    assert gateway.faults.injected["lost"] == gateway.faults.injected["restored"] == 2


async def test_stop_cancels_a_running_script(session_open):
    from breakout_kit.gateway import PaperGateway

    gw = PaperGateway(port=0, start=session_open, pacing="off")
    await gw.start()
    task = gw.faults.script(FaultPlan(1, 5, gap=(30, 30)))
    await gw.stop()
    assert task.cancelled()


async def test_command_line_faults_option():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--speed", "60", "--start",
        "2026-11-23T09:30", "--faults", "5:3", "--fault-gap", "0.05:0.1", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        port = int(re.fullmatch(r"paper gateway listening on 127\.0\.0\.1:(\d+)\n", first).group(1))
        banner = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert "account=DU***4567" in banner and "DU1234567" not in banner
        assert (await asyncio.wait_for(proc.stdout.readline(), 10)).startswith(b"faults: FaultPlan(seed=5, count=3")
        steps = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode() for _ in range(3)]
        assert [s.split(":")[0] for s in steps] == ["fault 1/3", "fault 2/3", "fault 3/3"]
        ib = IB()                                   # still serving after the plan
        await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=5)
        ib.disconnect()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _rest, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]


async def test_command_line_rejects_bad_faults_option():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--faults", "many",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and out == b""
    assert err.decode().strip().splitlines() == [
        ("error: --faults wants SEED:COUNT[:KIND,...] like 7:20 or 1:1:nightly_restart, got 'many' "
         "(invalid literal for int() with base 10: 'many')")]
