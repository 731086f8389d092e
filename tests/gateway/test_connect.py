"""Handshake and session: the real ib_insync client connects, gets accounts, end markers and the clock."""

import asyncio

import pytest

from breakout_kit.client.iblib import IB
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.wire.versions import TOP

pytestmark = pytest.mark.ib


@pytest.mark.parametrize("readonly", [True, False])
async def test_connect_async(gateway, client_id, readonly):
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=client_id, readonly=readonly, timeout=5)
        assert ib.isConnected()
        # the highest version both speak: the client library's top, or the gateway's
        assert ib.client.serverVersion() == min(ib.client.MaxClientVersion, TOP)
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.client.getReqId() >= 1
        t = await asyncio.wait_for(ib.reqCurrentTimeAsync(), 5)
        assert abs(t.timestamp() - gateway.now().timestamp()) < 120
        assert len(gateway.sessions) == 1
    finally:
        ib.disconnect()


async def test_several_clients_and_duplicate_client_id(gateway, client_id):
    a, b, dup = IB(), IB(), IB()
    errors = []
    dup.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    try:
        await a.connectAsync("127.0.0.1", gateway.port, clientId=client_id, timeout=5)
        await b.connectAsync("127.0.0.1", gateway.port, clientId=client_id + 1000, timeout=5)
        with pytest.raises((ConnectionError, asyncio.TimeoutError)):
            await dup.connectAsync("127.0.0.1", gateway.port, clientId=client_id, timeout=1)
        assert 326 in errors
        assert a.isConnected() and b.isConnected()
        assert (await a.reqCurrentTimeAsync()) and (await b.reqCurrentTimeAsync())
    finally:
        for ib in (a, b, dup):
            ib.disconnect()


def test_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="non-loopback"):
        PaperGateway(host="0.0.0.0")
    PaperGateway(host="0.0.0.0", allow_remote=True, trusted_ips="192.168.1.0/24")  # opt-in with an allow-list


async def test_clock_accelerated(gateway):
    t0 = gateway.now()
    loop = asyncio.get_running_loop()
    r0 = loop.time()
    await asyncio.sleep(0.2)
    elapsed = (gateway.now() - t0).total_seconds()
    real = loop.time() - r0
    assert elapsed == pytest.approx(real * 60.0, rel=0.05)


@pytest.mark.parametrize("kwargs,error", [
    ({"speed": 0}, ValueError), ({"speed": -1.0}, ValueError), ({"pacing": "loose"}, ValueError),
    ({"port": 70000}, ValueError), ({"start": "not a date"}, ValueError), ({"seed": "1"}, TypeError),
    ({"start": 5}, TypeError),
])
def test_bad_constructor_arguments(kwargs, error):
    with pytest.raises(error):
        PaperGateway(**kwargs)


def test_naive_start_means_new_york():
    gw = PaperGateway(start="2026-11-23T09:30")
    assert gw.now().isoformat() == "2026-11-23T09:30:00-05:00"
