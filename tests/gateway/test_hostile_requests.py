"""Hostile input at the request level: valid frames of every request id (from the client library's own encoders),
mutated field by field (dropped, duplicated, swapped, replaced with junk, huge, negative, NaN or unicode values),
sent over a few paced connections. No handler exception may escape (the log holds no traceback), every request cut
short after its reqId gets TWS's 320/321/322 for that reqId, every connection survives, and a normal client still
works afterwards. Seeded: a failure names its message number; ``--runslow`` sends 5 000."""

from __future__ import annotations

import asyncio
import logging
import random
import struct

import pytest

from breakout_kit.client.iblib import Stock
from breakout_kit.gateway.wire.requests import REQUESTS

from .conftest import connect
from .test_request_table import VERSION, RawConnection, calls, encode_with_the_client

pytestmark = pytest.mark.ib

SEED = 20261207
CONNECTIONS = 6
#: the errors TWS gives a request it cannot read (320), validate (321) or process (322)
REJECTED = {320, 321, 322}
JUNK = ["", "x", "-1", "-2147483649", "2147483648", "9" * 40, "-" + "9" * 40, "nan", "-inf", "1e309", "0x1F",
        "ü✓𝄞", "\u202e\u0000"[:1], "AAPL", "BUY", "1 Y", "20261120 10:00:00 America", "x" * 5000, "1.5", " 3"]
#: reqIds the test stamps on its messages (unique, so an answer names the message it answers)
BASE_REQ_ID = 500_000
LAST_REQ_ID = 900_000


def templates(con_id: int) -> list[list[str]]:
    """Every request of the table as the client library encodes it, split into fields."""
    out = []
    for method, args, _want in calls(Stock("AAPL", "SMART", "USD"), con_id):
        payload = encode_with_the_client(method, args)[4:]
        out.append(payload.decode().split("\0")[:-1])
    return out


def mutate(rng: random.Random, fields: list[str], req_id: int) -> tuple[list[str], bool]:
    """One mutated copy of ``fields`` and whether it is certainly unreadable (cut short right after its reqId,
    which the mutation leaves intact so the error can name it)."""
    f = list(fields)
    at = REQUESTS[int(f[0])].id_index(VERSION)
    if at is not None and at < len(f):
        f[at] = str(req_id)
    kind = rng.randrange(6)
    if kind == 0 and at is not None and len(f) > at + 1:
        return f[: at + 1], True
    for _ in range(rng.randrange(1, 4)):
        if len(f) < 2:
            break
        i, j = rng.randrange(1, len(f)), rng.randrange(1, len(f))
        op = rng.randrange(4)
        if op == 0:
            del f[i]
        elif op == 1:
            f.insert(i, f[i])
        elif op == 2:
            f[i], f[j] = f[j], f[i]
        else:
            f[i] = rng.choice(JUNK)
    return f, False


def frame(fields: list[str]) -> bytes:
    payload = "".join(x + "\0" for x in fields).encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(payload)) + payload


async def hammer(conn: RawConnection, messages: list[tuple[int, list[str], bool]]) -> list[str]:
    """Send ``messages`` paced; returns the failures: a cut-short request with no 320/321/322 for its reqId, or a
    connection that no longer answers."""
    since = len(conn.messages)
    for _n, fields, _cut in messages:
        await conn.write(frame(fields))
    # a marker request no mutation produces: its answer comes after every answer to the messages before it
    marker = str(LAST_REQ_ID + messages[0][0])
    await conn.write(encode_with_the_client("reqSoftDollarTiers", (int(marker),)))
    if await conn.wait_for(lambda m: m[:2] == ["77", marker], since, 30.0) is None:
        return [f"the connection died or stopped answering (last: {conn.messages[-3:]})"]
    rejected = {int(m[2]) for m in conn.messages[since:] if m[0] == "4" and int(m[3]) in REJECTED}
    return [f"message {n} {fields[:6]} {REQUESTS[int(fields[0])].name}: cut short after its reqId but no 320/321/322"
            for n, fields, cut in messages if cut and BASE_REQ_ID + n not in rejected]


@pytest.mark.parametrize("count", [pytest.param(1000, id="1000"),
                                   pytest.param(5000, id="5000", marks=pytest.mark.slow)])
async def test_mutated_requests_are_answered_never_crash(gateway, client_id, count, caplog):
    caplog.set_level(logging.WARNING, logger="breakout_kit")
    rng = random.Random(SEED)
    pool = templates(gateway.universe.by_key["AAPL"].con_id)
    messages = []
    for n in range(count):
        fields, cut = mutate(rng, rng.choice(pool), BASE_REQ_ID + n)
        messages.append((n, fields, cut))
    conns = [await RawConnection.open(gateway.port, client_id + k) for k in range(CONNECTIONS)]
    try:
        results = await asyncio.gather(*(hammer(c, messages[k::CONNECTIONS]) for k, c in enumerate(conns)))
    finally:
        for c in conns:
            await c.close()
    failures = [f for r in results for f in r]
    assert failures == [], f"{len(failures)} failures, first: {failures[:40]}"
    assert sum(cut for _n, _f, cut in messages) > count // 20, "the cut-short class was exercised"
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not tracebacks, f"{len(tracebacks)} handler failures, first: {tracebacks[0].getMessage()}"
    # a normal client still gets served
    async with connect(gateway, client_id + CONNECTIONS) as ib:
        details = await asyncio.wait_for(ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD")), 10)
        assert details and details[0].contract.symbol == "AAPL"
        assert await asyncio.wait_for(ib.reqCurrentTimeAsync(), 5)
