"""Helpers for gateway tests: every test talks to the gateway through the real IB client over a socket."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from breakout_kit.client.iblib import IB


@contextlib.asynccontextmanager
async def connect(gw, client_id, readonly=True):
    """A connected IB client for ``gw``; always disconnected afterwards (before the gateway stops)."""
    ib = IB()
    await ib.connectAsync("127.0.0.1", gw.port, clientId=client_id, readonly=readonly, timeout=5)
    try:
        yield ib
    finally:
        ib.disconnect()


@pytest.fixture
async def ib(gateway, client_id):
    async with connect(gateway, client_id) as client:
        yield client


def collect_errors(ib):
    """List of (reqId, code, message) the client receives."""
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((req_id, code, msg))
    return errors


async def wait_until(ib, predicate, timeout=10.0, what="condition"):
    """Await ``predicate()`` becoming true, re-checking whenever the client processed incoming data."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    woke = asyncio.Event()
    # Listen before checking: awaiting ib.updateEvent subscribes only once the wrapping task runs, so an update
    # arriving in between was lost (the wait then lasted until some later message, often seconds).
    def on_update(*_):
        woke.set()

    ib.updateEvent += on_update
    try:
        while not predicate():
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(woke.wait(), left)
            woke.clear()
    finally:
        ib.updateEvent -= on_update


@pytest.fixture
def session_open(gateway):
    """The shared fixture's start time (tests/conftest.py SESSION_OPEN), read from the running gateway."""
    return gateway.clock.start
