"""Malformed input closes only the offending connection; shutdown closes every client cleanly."""

import asyncio
import struct

import pytest

from breakout_kit.client.iblib import IB, Stock
from breakout_kit.gateway import PaperGateway

from .conftest import connect, wait_until

pytestmark = pytest.mark.ib


def frame(*fields: str) -> bytes:
    payload = "".join(f + "\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


async def raw_client(port, client_id):
    """A hand-rolled client that completes the handshake and startApi, returning (reader, writer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    greeting = b"v157..176"
    writer.write(b"API\0" + struct.pack(">I", len(greeting)) + greeting)
    (n,) = struct.unpack(">I", await reader.readexactly(4))
    version, _time, _ = (await reader.readexactly(n)).split(b"\0")
    assert version == b"157"
    writer.write(frame("71", "2", str(client_id), ""))
    await writer.drain()
    return reader, writer


async def read_until_closed(reader, timeout=5.0):
    async def drain():
        while await reader.read(1 << 16):
            pass
    await asyncio.wait_for(drain(), timeout)


GARBAGE = {
    "huge length": struct.pack(">I", 0x7FFFFFFF) + b"xxxx",
    "zero length": struct.pack(">I", 0),
    "no NUL terminator": struct.pack(">I", 3) + b"abc",
    "non-numeric id": frame("hello", "1"),
    "truncated request": frame("20", "5"),
    "bad integer field": frame("9", "8", "notanint"),
    "invalid utf-8": struct.pack(">I", 3) + b"\xff\xfe\0",
}


@pytest.mark.parametrize("name", list(GARBAGE))
async def test_malformed_frame_closes_only_that_client(gateway, client_id, name, caplog):
    async with connect(gateway, client_id) as ib:
        bars = ib.reqRealTimeBars(Stock("AAPL", "SMART", "USD"), 5, "TRADES", False)
        await wait_until(ib, lambda: len(bars) >= 1, what="first bar")
        reader, writer = await raw_client(gateway.port, client_id + 5000)
        writer.write(GARBAGE[name])
        await writer.drain()
        await read_until_closed(reader)           # the gateway hung up on the raw client
        writer.close()
        await writer.wait_closed()
        n = len(bars)
        await wait_until(ib, lambda: len(bars) >= n + 3, what="bars after the garbage")
        assert ib.isConnected()
        assert len(gateway.sessions) == 1
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
