"""IBClient.probe(): the benchmark's measurement hooks (socket reads before decoding, every bar message, pausing the
socket, raw library subscriptions) and IBClient(throttle=False), against the embedded gateway."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timezone

import pytest

from breakout_kit.client.ib_client import IBClient

pytestmark = pytest.mark.ib


@pytest.fixture
async def client(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id, clock_speed=gateway.clock.speed,
                        reconnect=False, throttle=False) as c:
        yield c


@pytest.fixture
async def observer(gateway, client_id):
    """A second connection: its SPY stream is the clock while the probed client is paused (no sleeps)."""
    async with IBClient(port=gateway.port, client_id=client_id + 1000, clock_speed=gateway.clock.speed,
                        reconnect=False) as c:
        yield c


async def next_emits(event, n: int, timeout: float = 20.0) -> None:
    """Await ``n`` more emits of ``event``."""
    for _ in range(n):
        await asyncio.wait_for(event, timeout)


async def test_bar_messages_follow_their_socket_read_and_reach_the_raw_handler(client):
    spy = await client.qualify("SPY")
    log: list[tuple] = []
    with client.probe() as probe:
        probe.read_event += lambda nbytes: log.append(("read", nbytes))
        probe.bar_message_event += lambda req_id, t: log.append(("message", req_id, t))
        raw = probe.raw_bars(spy, lambda req_id, t: log.append(("handler", req_id, t)))
        req_id = raw.req_id
        assert isinstance(req_id, int)
        await next_emits(probe.bar_message_event, 3)
    assert raw.req_id is None                      # close() cancelled the raw subscription
    messages = [e for e in log if e[0] == "message"]
    assert len(messages) >= 3 and all(m[1] == req_id for m in messages)
    for _, _, t in messages:
        assert isinstance(t, int) and t % 5 == 0
    # The read that carries a message is announced before the library decodes it. The probe was made after the
    # connection was up and nothing else is requested, so a hook running after decoding would announce no read
    # before the first message.
    first = log.index(messages[0])
    assert [e for e in log[:first] if e[0] == "read" and e[1] > 0]
    # each message: first the library-wide bar message event, then the subscription's own (bare) handler
    for k, entry in enumerate(log):
        if entry[0] == "message":
            _, req_id, t = log[k + 1]
            assert (req_id, t) == (entry[1], datetime.fromtimestamp(entry[2], timezone.utc))
    assert len([e for e in log if e[0] == "handler"]) == len(messages)


async def test_pause_and_resume_reading(client, observer):
    spy_c, spy_o = await client.qualify("SPY"), await observer.qualify("SPY")
    ticks = observer.subscribe_bars(spy_o)
    with client.probe() as probe:
        probe.raw_bars(spy_c)
        await next_emits(probe.bar_message_event, 1)
        assert probe.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > 0
        probe.pause_reading()                      # between reads: nothing more is decoded from here on
        seen = []
        probe.bar_message_event += lambda req_id, t: seen.append(t)
        await next_emits(ticks.bar_event, 4)       # the gateway served 4 boundaries meanwhile
        assert seen == []
        probe.resume_reading()
        await next_emits(probe.bar_message_event, 3)   # the queued messages come through
        assert len(seen) >= 3 and seen == sorted(seen)
    ticks.cancel()


async def test_close_removes_the_hooks_and_is_idempotent(client):
    spy = await client.qualify("SPY")
    sub = client.subscribe_bars(spy)
    probe = client.probe()
    reads = []
    probe.read_event += lambda nbytes: reads.append(nbytes)
    await next_emits(sub.bar_event, 1)
    assert reads
    probe.close()
    probe.close()
    before = len(reads)
    await next_emits(sub.bar_event, 2)             # data keeps flowing through the library's decoder
    assert len(reads) == before
    sub.cancel()


async def test_probe_needs_a_connection(gateway):
    c = IBClient(port=gateway.port, client_id=4242, reconnect=False)
    probe = c.probe()
    with pytest.raises(ConnectionError, match="not connected"):
        probe.pause_reading()
    with pytest.raises(ConnectionError, match="connect"):
        probe.raw_bars(object())
    probe.close()


def test_throttle_flag():
    assert IBClient(port=7000).throttle is True
    off = IBClient(port=7000, throttle=False)
    assert off.throttle is False and off.ib.client.MaxRequests == 0     # the library's "no limit"
    assert IBClient(port=7000).ib.client.MaxRequests > 0
    with pytest.raises(TypeError, match="throttle must be True or False"):
        IBClient(port=7000, throttle="no")
