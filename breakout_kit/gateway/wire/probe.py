"""A bare TWS API client for probes: frames, the handshake and startApi by hand, with no client library.

The benchmarks and the tests use it where they must speak the wire exactly: send what no library would send, or
read answers raw without decoding them in the measuring process.
"""

from __future__ import annotations

import asyncio
import struct

#: the version range the probe offers (what ib_insync offers)
OFFER = "v157..176"


def frame(*fields: object) -> bytes:
    """One length-prefixed message of ``fields`` as text (lone surrogates allowed: fuzzers send them)."""
    body = "".join(f"{f}\0" for f in fields).encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(body)) + body


async def read_message(reader: asyncio.StreamReader, timeout: float = 5.0) -> list[str]:
    """The next message's fields; ``asyncio.TimeoutError`` if none comes within ``timeout`` seconds."""
    (n,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), timeout))
    return (await asyncio.wait_for(reader.readexactly(n), timeout)).decode().split("\0")[:-1]


async def read_until(reader: asyncio.StreamReader, msg_id: int, timeout: float = 60.0) -> list[str]:
    """Read messages until one with ``msg_id`` comes (each within ``timeout``); returns its fields."""
    while True:
        fields = await read_message(reader, timeout)
        if fields and fields[0] == str(msg_id):
            return fields


async def handshake(port: int, offer: str = OFFER, host: str = "127.0.0.1"):
    """Connect and send the API greeting; returns (reader, writer, negotiated server version)."""
    reader, writer = await asyncio.open_connection(host, port)
    greeting = offer.encode()
    writer.write(b"API\0" + struct.pack(">I", len(greeting)) + greeting)
    version, _time = await read_message(reader)
    return reader, writer, int(version)


async def start_api(port: int, client_id: int, offer: str = OFFER):
    """Handshake and startApi for ``client_id``; returns (reader, writer, negotiated server version)."""
    reader, writer, version = await handshake(port, offer)
    writer.write(frame(71, 2, client_id, ""))
    await writer.drain()
    return reader, writer, version
