"""API version negotiation over a raw socket: the highest version in both ranges, a clear refusal below the
gateway's oldest, and messages laid out for the agreed version."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import pytest

from breakout_kit.client import iblib
from breakout_kit.client.iblib import LimitOrder, Stock
from breakout_kit.gateway.wire.probe import frame, handshake, read_message
from breakout_kit.gateway.wire.versions import (
    CONTRACT_DETAILS,
    MIN_VERSION,
    OPEN_ORDER,
    TOP,
    adapters_for,
    negotiate,
    open_order,
)

pytestmark = pytest.mark.ib




async def started(port: int, offer: str, client_id: int):
    reader, writer, version = await handshake(port, offer)
    writer.write(frame(71, 2, client_id, ""))
    while (await read_message(reader))[0] != "9":          # managedAccounts, then nextValidId
        pass
    return reader, writer, version


async def until(reader, msg_id: str) -> list[str]:
    while True:
        m = await read_message(reader)
        if m[0] == msg_id:
            return m


@pytest.mark.parametrize(("offer", "agreed"), [("v100..151", 151), ("v100..193", TOP), ("v157..176", 176),
                                               ("v100", 100), ("v120..140", 140)])
async def test_the_highest_version_in_both_ranges(gateway, offer, agreed):
    _reader, writer, version = await handshake(gateway.port, offer)
    try:
        assert version == agreed
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_range_below_the_oldest_version_is_refused_in_words(gateway, caplog):
    reader, writer, version = await handshake(gateway.port, "v90..99")
    try:
        assert version == MIN_VERSION                       # what the gateway speaks at least
        msg_id, _v, req_id, code, text = (await read_message(reader))[:5]
        assert (msg_id, req_id, code) == ("4", "-1", "357")
        assert "90..99" in text and f"{MIN_VERSION}..{TOP}" in text
        assert await asyncio.wait_for(reader.read(), 5) == b""        # then it hangs up
    finally:
        writer.close()
        await writer.wait_closed()
    assert any("below" in r.getMessage() for r in caplog.records)


def test_negotiate():
    assert negotiate(100, 151) == 151
    assert negotiate(150, 400) == TOP
    assert negotiate(10, 99) is None


async def test_contract_details_follow_the_agreed_version(gateway, client_id):
    """stockType arrives from 152 on, the size rules from 164 on (without the message version and
    mdSizeMultiplier); at 100 the fields of 110..152 are absent."""
    seen = {}
    for k, offer in enumerate(("v100..151", "v157", "v100..176", "v100")):
        reader, writer, version = await started(gateway.port, offer, client_id + 1000 * k)
        try:
            writer.write(frame(9, 8, 7, 0, "AAPL", "STK", "", 0.0, "", "", "SMART", "", "USD", "", "", 0, "", ""))
            seen[version] = await until(reader, "10")
        finally:
            writer.close()
            await writer.wait_closed()
    base = seen[157]
    assert len(base) == len(CONTRACT_DETAILS) and base[-1] == "COMMON"               # stockType last
    assert seen[151] == base[:-1]
    assert seen[176][:2] == ["10", "7"] and seen[176][-3:] == ["1", "1", "100"]     # no version; size rules
    assert len(seen[176]) == len(base) - 2 + 3
    assert len(seen[100]) == len(base) - 7                                            # 110, 121, 122x2, 126, 134, 152


def test_adapters_only_where_a_layout_differs():
    assert adapters_for(157) == {}
    assert set(adapters_for(176)) == {4, 5, 10, 79, 101}
    assert set(adapters_for(151)) == {5, 10}
    assert set(adapters_for(100)) == {3, 5, 10, 11, 17, 94, 95}


def encode(method: str, args: tuple, version: int) -> bytes:
    """The frame the client library's own encoder writes for ``method(*args)`` at ``version``."""
    client = iblib.lib.client.Client(None)
    sent: list[str] = []
    client.isConnected = lambda: True            # encode only: nothing is connected
    client.sendMsg = sent.append
    client._serverVersion = version
    getattr(client, method)(*args)
    payload = sent[0].encode()
    return struct.pack(">I", len(payload)) + payload


async def test_open_order_layout_table_matches_what_the_gateway_builds(gateway, client_id):
    """The adapters name every field of the gateway's openOrder (157): a field added without its name would
    shift every gate after it."""
    reader, writer, version = await started(gateway.port, "v157", client_id)
    try:
        order = LimitOrder("BUY", 1, 1.00, orderRef="layout")
        writer.write(encode("placeOrder", (900_001, Stock("AAPL", "SMART", "USD"), order), version))
        got = await until(reader, "5")
        assert len(got) == len(OPEN_ORDER)
        assert got[OPEN_ORDER.index("orderRef")] == "layout" and got[OPEN_ORDER.index("orderId")] == "900001"
    finally:
        writer.close()
        await writer.wait_closed()
    with pytest.raises(ValueError, match="layout"):
        open_order(tuple(got[:-1]), 151)


@pytest.mark.parametrize("greeting", [
    b"API\0" + struct.pack(">I", 9) + b"v200..100",              # an upside-down range
    b"API\0" + struct.pack(">I", 4) + b"vabc",                   # not a range at all
    b"API\0" + struct.pack(">I", 2**31) + b"v100..176",           # a 2 GB greeting
    b"API\0" + struct.pack(">I", 0),                              # an empty one
    b"XYZ\0" + struct.pack(">I", 9) + b"v100..176",              # no API greeting
])
async def test_a_hostile_handshake_is_hung_up_on_and_others_still_connect(gateway, client_id, greeting):
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(greeting)
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    _reader, writer, version = await started(gateway.port, "v100..176", client_id)
    writer.close()
    await writer.wait_closed()
    assert version == 176
