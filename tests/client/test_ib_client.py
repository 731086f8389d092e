"""IBClient against the embedded gateway through the real IB client library: connect, errors, contracts, history,
supervision (reconnect, 1100/1101/1102) and the client-side safety checks on orders."""

from __future__ import annotations

import asyncio
import math
import re
from datetime import timedelta

import pandas as pd
import pytest

from breakout_kit.client.ib_client import (
    ConnectError,
    ContractError,
    IBClient,
    OrderRejected,
    mask_account,
    round_to_tick,
)
from breakout_kit.gateway import PaperGateway

pytestmark = pytest.mark.ib


def client_tasks() -> set:
    """Tasks on the loop that are not the gateway's (which serves in this same loop)."""
    return {t for t in asyncio.all_tasks() if "gateway" not in repr(t.get_coro()).lower()}


@pytest.fixture
async def client(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id, clock_speed=gateway.clock.speed,
                        reconnect_delays=(0.05,)) as c:
        yield c


async def test_env_defaults(monkeypatch):
    monkeypatch.setenv("IB_HOST", "127.0.0.2")
    monkeypatch.setenv("IB_PORT", "4002")
    monkeypatch.setenv("IB_CLIENT_ID", "17")
    c = IBClient()
    assert (c.host, c.port, c.client_id) == ("127.0.0.2", 4002, 17)
    assert c.readonly and not c.trading
    assert IBClient(port=7000).port == 7000                    # explicit beats env
    assert not IBClient(trading=True).readonly                 # trading implies a read-write connection
    monkeypatch.setenv("IB_PORT", "seven")
    with pytest.raises(ValueError, match="IB_PORT"):
        IBClient()


async def test_nothing_listening_names_host_port_and_what_to_start(unused_tcp_port):
    c = IBClient(port=unused_tcp_port, client_id=1, timeout=2)
    with pytest.raises(ConnectError, match=rf"127\.0\.0\.1:{unused_tcp_port}.*(TWS|gateway)"):
        await c.connect()
    assert c.state == "disconnected" and not c.connected


async def test_client_id_in_use_says_so_at_once(client, gateway):
    """TWS's error 326 arrives with the handshake: fail then, not after the (here 60 s) timeout."""
    other = IBClient(port=gateway.port, client_id=client.client_id, timeout=60)
    with pytest.raises(ConnectError, match=rf"clientId {client.client_id} is already in use.*326.*"
                                           rf"--client-id {client.client_id + 1}"):
        await asyncio.wait_for(other.connect(), 5)
    assert client.connected                                   # the first session is untouched
    assert other.state == "disconnected"


async def test_silent_port_says_what_to_check_in_tws():
    """A port that accepts but never speaks the API (an HTTP server, TWS with the API off): a message that names
    the TWS settings, within the handshake time rather than the full timeout (on Python >= 3.11 the timeout is an
    OSError, which once produced 'cannot connect to HOST:PORT: ' with nothing after the colon)."""
    held = []
    server = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        c = IBClient(port=port, client_id=1, timeout=60)
        with pytest.raises(ConnectError) as err:
            await asyncio.wait_for(c.connect(), 10)
        assert re.search(rf"127\.0\.0\.1:{port} accepted the connection but did not answer the TWS API "
                         r"handshake.*Enable ActiveX and Socket Clients", str(err.value)), err.value
        assert c.state == "disconnected" and not c.connected
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


async def test_read_only_api_names_the_tws_setting(client_id):
    async with PaperGateway(port=0, readonly_api=True) as gw:
        c = await IBClient(port=gw.port, client_id=client_id, trading=True).connect()
        try:
            with pytest.raises(OrderRejected, match=r"read-only mode; untick 'Read-Only API' in TWS Global "
                                                    r"Configuration > API > Settings"):
                await c.place_buy_bracket_pct_async("AAPL", 1, 2, 1, entry=100)
        finally:
            await c.disconnect()


async def test_server_version_time_and_pnl(client, gateway):
    assert client.server_version >= 157
    t = await client.server_time()
    assert t.tzinfo is not None and abs((t - gateway.clock.now()).total_seconds()) < 3600
    pnl = await client.pnl()
    assert set(pnl) == {"daily", "unrealized", "realized"} and all(isinstance(v, float) for v in pnl.values())
    await client.disconnect()
    assert client.server_version >= 157                       # still known after the connection ends


async def test_connect_state_account_and_clean_disconnect(gateway, client_id):
    c = IBClient(port=gateway.port, client_id=client_id)
    states = []
    c.state_event += states.append
    before = client_tasks()
    async with c:
        assert c.connected and c.account == "DU1234567" and c.paper
        assert "DU***4567" in repr(c) and "DU1234567" not in repr(c)
    assert states == ["connecting", "connected", "closed"]
    assert not c.connected
    assert client_tasks() == before


async def test_qualify_cached_unknown_and_invalid(client):
    aapl = await client.qualify("aapl")
    assert aapl.symbol == "AAPL" and aapl.conId > 0 and aapl.exchange == "SMART"
    assert await client.qualify("AAPL") is aapl                # cached: no second round trip
    with pytest.raises(ContractError, match="ZZZZQ"):
        await client.qualify("ZZZZQ")
    with pytest.raises(ContractError, match="not a valid"):
        await client.qualify("$$$")
    with pytest.raises(TypeError):
        await client.qualify(42)
    assert await client.min_tick("AAPL") > 0
    assert "AAPL" in await client.matching_symbols("AAP")


async def test_history_frame_matches_gateway_truth(client, gateway):
    end = gateway.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    df = await client.history("MSFT", duration="3600 S", bar_size="1 min", end=end)
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC" and df.index.name == "time"
    assert list(df.columns[:5]) == ["open", "high", "low", "close", "volume"]
    truth = gateway.history("MSFT", 60, end - timedelta(hours=1), end)
    assert len(df) == len(truth) > 50
    assert [b.time for b in truth] == [int(t.timestamp()) for t in df.index]
    assert [b.close for b in truth] == pytest.approx(df["close"].tolist())
    assert [b.volume for b in truth] == df["volume"].astype(int).tolist()


async def test_history_under_strict_pacing_has_no_violations(client_id):
    # 8 requests for one contract in a burst would break the "6 in 2 s" rule without client-side pacing.
    async with (PaperGateway(port=0, speed=60.0, pacing="strict") as gw,
                IBClient(port=gw.port, client_id=client_id, clock_speed=60.0) as c):
        errors = []
        c.ib.errorEvent += lambda rid, code, msg, contract: errors.append(code)
        frames = await asyncio.gather(*(c.history("SPY", duration=f"{600 + 60 * i} S", bar_size="30 secs")
                                        for i in range(8)))
        waited_small = c.pacer.waited
        # minute bars have no hard pacing rule at IB (nor at the gateway): the same burst goes at once
        minutes = await asyncio.gather(*(c.history("SPY", duration=f"{600 + 60 * i} S", bar_size="1 min")
                                         for i in range(8)))
    assert all(len(f) > 0 for f in frames + minutes)
    assert 162 not in errors
    assert c.pacer.requests == 16 and waited_small > 0 and c.pacer.waited == waited_small


async def test_reconnects_after_drop_with_same_client_id(client, gateway):
    states, resubscribed = [], asyncio.Event()
    client.state_event += states.append
    client.resubscribe_event += resubscribed.set
    gateway.session_for(client.client_id).writer.transport.abort()
    await asyncio.wait_for(resubscribed.wait(), 10)
    assert states == ["reconnecting", "connected"]
    assert client.connected and client.reconnects == 1
    assert gateway.session_for(client.client_id) is not None
    assert len(await client.history("AAPL", duration="600 S")) > 0


async def test_no_reconnect_when_disabled(gateway, client_id):
    c = IBClient(port=gateway.port, client_id=client_id, reconnect=False)
    await c.connect()
    lost = asyncio.Event()
    c.state_event += lambda s: lost.set() if s == "disconnected" else None
    gateway.session_for(client_id).writer.transport.abort()
    await asyncio.wait_for(lost.wait(), 5)
    assert not c.connected and c.reconnects == 0
    await c.disconnect()


@pytest.mark.parametrize("code, resubscribe", [(1101, True), (1102, False)])
async def test_connectivity_codes(client, gateway, code, resubscribe):
    states, resubscribed = [], []
    client.state_event += states.append
    client.resubscribe_event += lambda: resubscribed.append(1)
    session = gateway.session_for(client.client_id)
    session.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")
    session.error(-1, code, "Connectivity between IB and Trader Workstation has been restored")
    await client.ib.reqCurrentTimeAsync()                     # both messages processed before this answer
    assert states == ["reconnecting", "connected"]
    assert bool(resubscribed) is resubscribe


# ---- orders: client-side safety (nothing reaches the gateway) ----------------------------------------------------

@pytest.fixture
async def trader(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id, trading=True, max_quantity=500,
                        max_notional=50_000) as c:
        yield c


async def test_orders_refused_unless_trading(client):
    with pytest.raises(OrderRejected, match="trading is disabled"):
        await client.place_buy_bracket_pct_async("AAPL", 10, 2, 1)
    with pytest.raises(OrderRejected, match="read-only"):
        await client.cancel_order(1)
    assert client.ib.trades() == []


async def test_readonly_trading_client_refused(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id, trading=True, readonly=True) as c:
        with pytest.raises(OrderRejected, match="read-only"):
            await c.place_buy_bracket_pct_async("AAPL", 10, 2, 1, entry=100)
        assert c.ib.trades() == []


@pytest.mark.parametrize("args, kwargs, match", [
    (("AAPL", 0, 2, 1), {}, "positive whole number"),
    (("AAPL", -5, 2, 1), {}, "positive whole number"),
    (("AAPL", 2.5, 2, 1), {}, "positive whole number"),
    (("AAPL", True, 2, 1), {}, "positive whole number"),
    (("AAPL", 501, 2, 1), {"entry": 10}, "limit of 500"),
    (("AAPL", 10, 0, 1), {}, "take_profit_pct"),
    (("AAPL", 10, 100, 1), {}, "take_profit_pct"),
    (("AAPL", 10, 2, -1), {}, "stop_loss_pct"),
    (("AAPL", 10, 2, float("nan")), {}, "stop_loss_pct"),
    (("AAPL", 10, "x", 1), {}, "must be a number"),
    (("AAPL", 10, 0.001, 1), {"entry": 100}, "straddle"),
    (("AAPL", 400, 2, 1), {"entry": 200}, "order value"),
    (("AAPL", 10, 2, 1), {"entry": -3}, "positive"),
    (("AAPL", 10, 2, 1), {"entry": "soon"}, "'market' or a limit"),
    (("ZZZZQ", 10, 2, 1), {"entry": 10}, "unknown symbol ZZZZQ"),
    (("AAPL", 10, 2, 1), {"entry": 100, "tif": "IOC"}, "tif"),
])
async def test_bracket_refusals_send_nothing(trader, args, kwargs, match):
    with pytest.raises(OrderRejected, match=match):
        await trader.place_buy_bracket_pct_async(*args, **kwargs)
    assert trader.ib.trades() == []


async def test_live_account_needs_second_opt_in(client_id):
    async with (PaperGateway(port=0, speed=60.0, pacing="off", account="U7654321") as gw,
                IBClient(port=gw.port, client_id=client_id, trading=True) as c):
        assert not c.paper
        with pytest.raises(OrderRejected, match=r"U7\*\*\*4321.*allow_live=True"):
            await c.place_buy_bracket_pct_async("AAPL", 1, 2, 1, entry=100)
        assert c.ib.trades() == []


def test_helpers():
    assert round_to_tick(100.123, 0.01) == 100.12
    assert round_to_tick(100.125, 0.01) == 100.13
    assert round_to_tick(0.1 + 0.2, 0.1) == 0.3
    assert round_to_tick(10.07, 0.05) == 10.05
    assert mask_account("DU1234567") == "DU***4567" and mask_account("X") == "***"
    assert math.isclose(round_to_tick(123.456789, 0.0001), 123.4568)


@pytest.mark.parametrize("kwargs", [{"max_quantity": 0}, {"max_notional": -1.0}, {"timeout": 0},
                                    {"clock_speed": 0}, {"port": 70000}])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        IBClient(**kwargs)


async def test_share_classes_in_any_spelling_qualify_to_ibs(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id) as c:
        ib_spelling = await c.qualify("BRK B")
        for text in ("BRK.B", "brk/b"):
            assert (await c.qualify(text)).conId == ib_spelling.conId
        assert ib_spelling.symbol == "BRK B"
