"""Malformed input closes only the offending connection; shutdown closes every client cleanly."""

import asyncio
import struct

import pytest

from breakout_kit.client.iblib import IB, Stock
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.wire.probe import frame, start_api
from breakout_kit.gateway.wire.versions import TOP

from .conftest import collect_errors, connect, wait_until

pytestmark = pytest.mark.ib


async def raw_client(port, client_id):
    """A hand-rolled client through the handshake and startApi, returning (reader, writer)."""
    reader, writer, version = await start_api(port, client_id)
    assert version == min(176, TOP)
    return reader, writer


async def read_until_closed(reader, timeout=5.0):
    async def drain():
        while await reader.read(1 << 16):
            pass
    await asyncio.wait_for(drain(), timeout)


#: frames after which the stream is out of step: the gateway says 320 and hangs up
FATAL = {
    "huge length": struct.pack(">I", 0x7FFFFFFF) + b"xxxx",
    "zero length": struct.pack(">I", 0),
}
#: unreadable requests inside well-formed frames: 320 for that request (its reqId when it reads), connection lives
MALFORMED = {
    "no NUL terminator": (struct.pack(">I", 3) + b"abc", -1),
    "invalid utf-8": (struct.pack(">I", 3) + b"\xff\xfe\0", -1),
    "non-numeric id": (frame("hello", "1"), -1),
    "truncated request": (frame("20", "5"), 5),
    "bad integer field": (frame("9", "8", "notanint"), -1),
    "bad field after the reqId": (frame("50", "3", "77", "x"), 77),
    "unknown message id": (frame("9999", "1"), -1),
}


async def next_error(reader, timeout=5.0) -> tuple[int, int, str]:
    """The next error (4) message on a raw connection: (reqId, code, text)."""
    while True:
        (n,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), timeout))
        fields = (await reader.readexactly(n)).decode().split("\0")
        if fields[0] == "4" and fields[3] not in ("2104", "2106", "2158"):
            return int(fields[2]), int(fields[3]), fields[4]


@pytest.mark.parametrize("name", list(FATAL))
async def test_frame_that_loses_the_stream_closes_only_that_client(gateway, client_id, name, caplog):
    async with connect(gateway, client_id) as ib:
        bars = ib.reqRealTimeBars(Stock("AAPL", "SMART", "USD"), 5, "TRADES", False)
        await wait_until(ib, lambda: len(bars) >= 1, what="first bar")
        reader, writer = await raw_client(gateway.port, client_id + 5000)
        writer.write(FATAL[name])
        await writer.drain()
        assert (await next_error(reader))[1] == 320
        await read_until_closed(reader)           # the gateway hung up on the raw client
        writer.close()
        await writer.wait_closed()
        n = len(bars)
        await wait_until(ib, lambda: len(bars) >= n + 3, what="bars after the garbage")
        assert ib.isConnected()
        assert len(gateway.sessions) == 1
    assert any("malformed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_request_gets_320_and_the_connection_lives(gateway, client_id, name, caplog):
    data, req_id = MALFORMED[name]
    reader, writer = await raw_client(gateway.port, client_id)
    try:
        writer.write(data + frame("49", "1"))
        await writer.drain()
        got_id, code, text = await next_error(reader)
        assert (got_id, code) == (req_id, 320) and text.startswith("Error reading request")
        while True:                               # the request after it is served: the connection lived
            (n,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), 5))
            if (await reader.readexactly(n)).split(b"\0")[0] == b"49":
                break
    finally:
        writer.close()
        await writer.wait_closed()
    assert any("malformed" in r.getMessage() for r in caplog.records)


async def test_garbage_instead_of_handshake(gateway, client_id):
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    await read_until_closed(reader)
    writer.close()
    await writer.wait_closed()
    async with connect(gateway, client_id) as ib:
        assert ib.isConnected()


async def test_partial_writes_are_reassembled(gateway, client_id):
    reader, writer = await raw_client(gateway.port, client_id)
    # reqCurrentTime split byte by byte
    for b in frame("49", "1"):
        writer.write(bytes([b]))
        await writer.drain()
    seen = []
    while "49" not in seen:
        (n,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), 5))
        seen.append((await reader.readexactly(n)).split(b"\0")[0].decode())
    assert seen[:2] == ["15", "9"]
    writer.close()
    await writer.wait_closed()


async def test_stop_closes_clients_cleanly(session_open, client_id):
    gw = PaperGateway(port=0, speed=60.0, start=session_open, pacing="off")
    await gw.start()
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", gw.port, clientId=client_id, timeout=5)
        ib.reqRealTimeBars(Stock("AAPL", "SMART", "USD"), 5, "TRADES", False)
        disconnected = asyncio.Event()
        ib.disconnectedEvent += disconnected.set
        await gw.stop()
        await asyncio.wait_for(disconnected.wait(), 5)
        assert not ib.isConnected()
        assert not gw.sessions and not gw.serving
        await gw.stop()                            # idempotent
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", gw.port)
    finally:
        ib.disconnect()
        await gw.stop()


async def test_folder_like_time_zone_in_end_time_gets_321(gateway, client_id):
    """``America`` names a folder of the zone database: reading it must refuse the request, not kill the session."""
    async with connect(gateway, client_id) as ib:
        errors = collect_errors(ib)
        bars = await ib.reqHistoricalDataAsync(Stock("AAPL", "SMART", "USD"), "20261120 10:00:00 America", "1 D",
                                               "1 hour", "TRADES", True, timeout=5)
        assert len(bars) == 0
        assert [code for _, code, _ in errors] == [321]
        assert await ib.reqCurrentTimeAsync()
        assert ib.isConnected()
