"""Fuzzing the gateway's socket: malformed, truncated and random frames close only the offending connection.

A real ib_insync client streams real-time bars the whole time; after every fuzz case the gateway must still answer a
fresh raw client, and the streaming client must still be connected and receiving bars at the end. Cases come from a
seeded generator (reproducible: a failure names its case number); ``--runslow`` runs many more.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct

import pytest

from breakout_kit.client.iblib import IB, Stock
from breakout_kit.gateway.wire.probe import frame, start_api
from breakout_kit.gateway.wire.requests import HANDLERS

pytestmark = pytest.mark.ib

SEED = 20261125


async def raw_client(port: int, client_id: int):
    """Handshake + startApi by hand; returns (reader, writer)."""
    reader, writer, _version = await start_api(port, client_id)
    return reader, writer


def random_field(rng: random.Random) -> str:
    kind = rng.randrange(9)
    if kind == 0:
        return ""
    if kind == 1:
        return str(rng.randint(-5, 200))
    if kind == 2:
        return str(rng.choice([2**31, -(2**63), 10**30, 0]))
    if kind == 3:
        return repr(rng.uniform(-1e6, 1e6))
    if kind == 4:
        return rng.choice(["nan", "inf", "-inf", "1e309", "0x10", "1_000", " 7", "AAPL", "SMART", "USD", "STK"])
    if kind == 5:
        return rng.choice(["20261123 09:30:00", "20261123 09:30:00 US/Eastern", "1 D", "1 min", "TRADES", "BUY"])
    if kind == 6:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 12)))
    if kind == 7:
        return "x" * rng.randrange(1, 5000)
    return str(rng.randint(0, 1))


def fuzz_case(rng: random.Random) -> tuple[bytes, bool]:
    """One malformed input and whether it ends mid-frame (random bytes and cut frames may; TCP can't tell
    a cut frame from a slow sender, so those cases end with EOF and the gateway must then hang up)."""
    kind = rng.randrange(5)
    if kind == 0:                                       # raw random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), True
    if kind == 1:                                       # a frame cut short
        whole = frame(str(rng.choice(sorted(HANDLERS))), *(random_field(rng) for _ in range(rng.randrange(8))))
        return whole[: rng.randrange(1, len(whole))], True
    if kind == 2:                                       # unknown / negative message ids
        return frame(str(rng.choice([0, -1, 999, 10**12, 72, 100])), *(random_field(rng) for _ in range(3))), False
    # a known handler with random fields (the likeliest to reach deep code paths)
    msg_id = rng.choice(sorted(HANDLERS))
    return b"".join(
        frame(str(msg_id), *(random_field(rng) for _ in range(rng.randrange(0, 40))))
        for _ in range(rng.randrange(1, 4))
    ), False


async def answers_current_time(port: int, client_id: int) -> bool:
    """A fresh client still gets reqCurrentTime (49) answered: the gateway is alive and responsive."""
    reader, writer = await raw_client(port, client_id)
    try:
        writer.write(frame("49", "1"))
        await writer.drain()
        while True:
            (n,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), 5))
            if (await reader.readexactly(n)).split(b"\0")[0] == b"49":
                return True
    finally:
        writer.close()
        await writer.wait_closed()


async def run_case(port: int, client_id: int, data: bytes, cut: bool) -> None:
    reader, writer = await raw_client(port, client_id)
    try:
        writer.write(data)
        await writer.drain()
        if cut:
            writer.write_eof()                          # the gateway must hang up, not wait forever
        else:
            # Either the gateway hangs up, or it keeps the connection and stays responsive: ask for the time.
            writer.write(frame("49", "1"))
            await writer.drain()

        async def until_time_or_eof():
            while chunk := await reader.read(1 << 16):
                if b"49\0" in chunk:
                    return

        await asyncio.wait_for(until_time_or_eof(), 5)
    except (ConnectionResetError, BrokenPipeError):
        pass                                            # closed by the gateway while we were writing: fine
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionResetError, BrokenPipeError):
            pass


@pytest.mark.parametrize("cases", [pytest.param(150, id="short"),
                                   pytest.param(3000, id="long", marks=pytest.mark.slow)])
async def test_fuzzed_frames_close_only_their_connection(gateway, client_id, cases, caplog):
    ib = IB()
    await ib.connectAsync("127.0.0.1", gateway.port, clientId=client_id, timeout=5)
    try:
        bars = ib.reqRealTimeBars(Stock("SPY", "SMART", "USD"), 5, "TRADES", False)
        rng = random.Random(SEED)
        for i in range(cases):
            data, cut = fuzz_case(rng)
            try:
                await run_case(gateway.port, client_id + 10_000 + i, data, cut)
            except Exception as e:                      # name the reproducible case
                raise AssertionError(f"fuzz case {i} ({data[:60]!r}...) broke the gateway: {e!r}") from e
        assert await answers_current_time(gateway.port, client_id + 9_999)
        seen = len(bars)
        got_more = asyncio.Event()
        bars.updateEvent += lambda *_: got_more.set() if len(bars) > seen else None
        await asyncio.wait_for(got_more.wait(), 10)
        assert ib.isConnected()
        assert gateway.serving
        # every fuzz connection has left the gateway's books; only the streaming client remains
        assert len(gateway.sessions) == 1
    finally:
        ib.disconnect()
    # a handler crashing with an unexpected exception is a gateway bug even if only its connection died
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, crashes[0].getMessage()


async def test_fuzzed_frames_between_connectivity_faults(gateway, client_id, caplog):
    """Fuzz cases interleaved with 1100 -> 1101/1102 and farm-status faults (the paused-subscription bookkeeping sees
    sessions come and go mid-outage): the gateway stays up and a re-requested stream flows at the end."""
    from breakout_kit.gateway.faults import FARMS

    ib = IB()
    await ib.connectAsync("127.0.0.1", gateway.port, clientId=client_id, timeout=5)
    try:
        ib.reqRealTimeBars(Stock("SPY", "SMART", "USD"), 5, "TRADES", False)
        rng = random.Random(SEED + 1)
        faults = gateway.faults
        for i in range(60):
            step = i % 4
            if step == 0:
                faults.connectivity_lost()
            elif step == 2:
                faults.connectivity_restored(data_lost=rng.random() < 0.5)
            else:
                faults.farm_status(rng.choice(sorted(FARMS)), rng.random() < 0.5)
            data, cut = fuzz_case(rng)
            try:
                await run_case(gateway.port, client_id + 20_000 + i, data, cut)
            except Exception as e:
                raise AssertionError(f"fuzz case {i} ({data[:60]!r}...) broke the gateway: {e!r}") from e
        assert not faults.connectivity_down and not faults._paused
        fresh = ib.reqRealTimeBars(Stock("SPY", "SMART", "USD"), 5, "TRADES", False)   # after a possible 1101
        got = asyncio.Event()
        fresh.updateEvent += lambda *_: got.set() if len(fresh) >= 2 else None
        await asyncio.wait_for(got.wait(), 10)
        assert ib.isConnected() and len(gateway.sessions) == 1
    finally:
        ib.disconnect()
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("breakout_kit")]
    assert not crashes, crashes[0].getMessage()
