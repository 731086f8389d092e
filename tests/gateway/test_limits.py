"""What one client may cost the others: the 32-client cap, idle sockets that never lock anyone out, TWS's
50 messages per second, and who may connect at all (loopback, or trusted IPs with --allow-remote)."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import pytest

from breakout_kit.client.iblib import IB
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.wire.limits import MAX_CLIENTS, MAX_MESSAGES_PER_SECOND, MAX_PENDING

pytestmark = pytest.mark.ib


def frame(*fields: object) -> bytes:
    payload = "".join(f"{f}\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


async def read_message(reader, timeout: float = 5.0) -> list[str]:
    (n,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), timeout))
    return (await reader.readexactly(n)).decode().split("\0")[:-1]


async def start_raw(port: int, client_id: int):
    """A raw client through the handshake and startApi; returns (reader, writer, the first answer's fields)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"API\0" + struct.pack(">I", 9) + b"v157..176")
    await read_message(reader)
    writer.write(frame(71, 2, client_id, ""))
    return reader, writer, await read_message(reader)


async def close_all(writers) -> None:
    for w in writers:
        w.close()
    for w in writers:
        with contextlib.suppress(ConnectionError, OSError):
            await w.wait_closed()


async def test_the_client_after_the_32nd_is_told_and_disconnected(gateway, client_id):
    writers = []
    try:
        for k in range(MAX_CLIENTS):
            _reader, writer, first = await start_raw(gateway.port, client_id + k)
            writers.append(writer)
            assert first[0] == "15"                                # managedAccounts: admitted
        reader, writer, first = await start_raw(gateway.port, client_id + MAX_CLIENTS)
        writers.append(writer)
        assert (first[0], first[3]) == ("4", "502")
        assert await asyncio.wait_for(reader.read(), 5) == b""    # told, then disconnected
    finally:
        await close_all(writers)


async def test_idle_sockets_never_lock_a_client_out(gateway, client_id, caplog):
    """300 sockets that connect and say nothing (beyond a 256-descriptor budget): the oldest are pushed out as
    new ones come, so the gateway never holds more than MAX_PENDING of them and a real client connects."""
    idle = []
    try:
        for _ in range(300):
            _r, w = await asyncio.open_connection("127.0.0.1", gateway.port)
            idle.append(w)
        ib = IB()
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=client_id, timeout=5)
        try:
            assert ib.isConnected()
            assert len(gateway.sessions) <= MAX_PENDING + 1
        finally:
            ib.disconnect()
    finally:
        await close_all(idle)
    assert any("have not started the API" in r.getMessage() for r in caplog.records)


async def test_more_than_50_messages_a_second_gets_error_100(gateway, client_id):
    reader, writer, _ = await start_raw(gateway.port, client_id)
    try:
        writer.write(b"".join(frame(49, 1) for _ in range(MAX_MESSAGES_PER_SECOND + 10)))
        answers = 0
        while True:
            m = await read_message(reader)
            if m[0] == "49":
                answers += 1
            elif m[0] == "4" and m[3] == "100":
                break
        assert answers <= MAX_MESSAGES_PER_SECOND
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        await close_all([writer])
    async with asyncio.timeout(5):                             # the others are served as before
        ib = IB()
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=client_id + 1, timeout=5)
        assert await ib.reqCurrentTimeAsync()
        ib.disconnect()


async def test_the_rate_limit_can_be_lifted_for_benchmarks(session_open, client_id):
    async with PaperGateway(port=0, speed=60.0, start=session_open, pacing="off", max_message_rate=None) as gw:
        reader, writer, _ = await start_raw(gw.port, client_id)
        try:
            n = 3 * MAX_MESSAGES_PER_SECOND
            writer.write(b"".join(frame(49, 1) for _ in range(n)))
            answers = 0
            while answers < n:
                m = await read_message(reader)
                assert m[0] != "4" or m[3] in ("2104", "2106", "2158"), m
                answers += m[0] == "49"
        finally:
            await close_all([writer])


@pytest.mark.parametrize("rate", [0, -1, 2.5, True, "50"])
def test_max_message_rate_is_a_positive_int_or_none(rate):
    with pytest.raises(ValueError, match="max_message_rate"):
        PaperGateway(max_message_rate=rate)


def test_trusted_ips_decide_who_may_connect():
    gw = PaperGateway(host="127.0.0.1", allow_remote=True, trusted_ips="192.168.1.0/24, 10.0.0.7")
    assert gw.trusts("192.168.1.9") and gw.trusts("10.0.0.7") and gw.trusts("::ffff:192.168.1.9")
    assert gw.trusts("127.0.0.1") and gw.trusts("::1")                     # loopback always
    assert not gw.trusts("10.0.0.8") and not gw.trusts("8.8.8.8") and not gw.trusts("nonsense")
    assert not PaperGateway().trusts("192.168.1.9")                         # no --allow-remote: loopback only


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"host": "0.0.0.0"}, "non-loopback.*allow_remote=True"),
    ({"host": "0.0.0.0", "allow_remote": True}, "needs trusted_ips"),
    ({"allow_remote": True, "trusted_ips": "192.168.1.300"}, "'192.168.1.300' is not an IP address"),
])
def test_remote_access_is_opt_in_twice(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PaperGateway(**kwargs)
