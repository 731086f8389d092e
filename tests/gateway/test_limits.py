"""What one client may cost the others: the 32-client cap, idle sockets that never lock anyone out, TWS's
50 messages per second, and who may connect at all (loopback, or trusted IPs with --allow-remote)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from breakout_kit.client.iblib import IB
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.wire.limits import MAX_CLIENTS, MAX_MESSAGES_PER_SECOND, MAX_PENDING
from breakout_kit.gateway.wire.probe import frame, read_message, start_api

pytestmark = pytest.mark.ib


async def start_raw(port: int, client_id: int):
    """A raw client through the handshake and startApi; returns (reader, writer, the first answer's fields)."""
    reader, writer, _version = await start_api(port, client_id)
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


#: idle connections the limit tests open (the issue's 1 000; this machine's descriptor limit, ``ulimit -n``, was
#: 20 000, and the test process holds both ends of each connection the gateway keeps)
IDLE = 1000


async def test_idle_sockets_never_lock_a_client_out(gateway, client_id, caplog):
    """1 000 sockets that connect and say nothing (far beyond a 256-descriptor budget): the oldest are pushed out as
    new ones come, so the gateway never holds more than MAX_PENDING of them and a real client connects."""
    idle = []
    try:
        for _ in range(IDLE):
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
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "a traceback in the log"


async def test_1000_idle_started_clients_leave_room_under_the_cap(gateway, client_id, caplog):
    """1 000 clients that start the API and then sit idle: the first 32 are served, every later one is told 502
    and disconnected; once one served client leaves, a new real client connects."""
    admitted, refused, writers = [], 0, []
    try:
        for k in range(IDLE):
            reader, writer, first = await start_raw(gateway.port, client_id + k)
            if first[0] == "15":
                admitted.append(writer)
                continue
            assert (first[0], first[3]) == ("4", "502"), first
            assert await asyncio.wait_for(reader.read(), 5) == b""          # told, then disconnected
            refused += 1
            writers.append(writer)
        assert (len(admitted), refused) == (MAX_CLIENTS, IDLE - MAX_CLIENTS)
        assert len(gateway.sessions) == MAX_CLIENTS
        await close_all(admitted[:1])
        ib = IB()
        await ib.connectAsync("127.0.0.1", gateway.port, clientId=client_id + IDLE, timeout=5)
        try:
            assert await ib.reqCurrentTimeAsync()
        finally:
            ib.disconnect()
    finally:
        await close_all(admitted[1:] + writers)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "a traceback in the log"


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
