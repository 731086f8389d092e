"""Every request id of the TWS API, encoded by the client library's own encoders, sent once over a real socket:
each is answered (data, an end marker or TWS's error for its reqId) within 2 s, or, for the requests TWS itself
answers with nothing (cancels, setters, news bulletins), the connection serves the next request with no error."""

from __future__ import annotations

import asyncio
import inspect
import struct
from collections import deque

import pytest

from breakout_kit.client import iblib
from breakout_kit.client.iblib import LimitOrder, ScannerSubscription, Stock
from breakout_kit.gateway.wire.requests import REQUESTS
from breakout_kit.gateway.wire.versions import TOP

pytestmark = pytest.mark.ib

ACCOUNT = "DU1234567"
QUIET = "quiet"
FARM_OK = (2104, 2106, 2158)
#: how long to wait for an answer. Every wait ends at the answer, so these only bound a failure: generous, because the
#: suite must pass on a loaded machine (two CPU hogs beside it). Speed is the benchmark's business, not this test's.
WAIT = 30.0
#: a session's first scan builds every instrument's day (~1.1-1.5 s alone on this machine class; >10 s seen at load 7)
BUDGET = {"reqScannerSubscription": 120.0}
#: requests per second this test sends (ib_insync's own pace; above 50 TWS answers error 100 and hangs up)
PACE = 45
#: the client library's low-level Client class (its encoders)
CLIENT = iblib.lib.client.Client
#: the version the gateway agrees with this client library (the top of both ranges)
VERSION = min(CLIENT.MaxClientVersion, TOP)


def error(code: int) -> tuple[str, int]:
    return ("error", code)


# method -> (args, what must come back): reply message ids (any of them), error(code) for its reqId, or QUIET.
# reqIds are 1000 + the message id, so a reply names the request it answers.
def calls(aapl, con_id: int) -> list[tuple[str, tuple, object]]:
    lib = iblib.lib
    scan = ScannerSubscription(instrument="STK", locationCode="STK.US.MAJOR", scanCode="TOP_PERC_GAIN",
                               numberOfRows=5)
    return [
        ("reqMktData", (1001, aapl, "", False, False, []), {58}),
        ("cancelMktData", (1001,), QUIET),
        ("placeOrder", (900_003, aapl, LimitOrder("BUY", 1, 1.00)), {5}),
        ("cancelOrder", (900_003,), {3}),
        ("reqOpenOrders", (), {53}),
        ("reqAccountUpdates", (True, ACCOUNT), {54}),
        ("reqExecutions", (1007, lib.ExecutionFilter()), {55}),
        ("reqIds", (1,), {9}),
        ("reqContractDetails", (1009, aapl), {10}),
        ("reqMktDepth", (1010, aapl, 5, False, []), error(10092)),
        ("cancelMktDepth", (1010, False), QUIET),
        ("reqNewsBulletins", (True,), QUIET),
        ("cancelNewsBulletins", (), QUIET),
        ("setServerLogLevel", (2,), QUIET),
        ("reqAutoOpenOrders", (True,), error(327)),          # only clientId 0 may bind TWS orders
        ("reqAllOpenOrders", (), {53}),
        ("reqManagedAccts", (), {15}),
        ("requestFA", (1,), error(321)),
        ("replaceFA", (1019, 1, "<ListOfGroups/>"), error(321)),
        ("reqHistoricalData", (1020, aapl, "", "1 D", "1 hour", "TRADES", True, 1, False, []), {17}),
        ("exerciseOptions", (1021, aapl, 1, 1, ACCOUNT, 0), error(200)),
        ("reqScannerSubscription", (1022, scan, [], []), {20}),
        ("cancelScannerSubscription", (1022,), QUIET),
        ("reqScannerParameters", (), {19}),
        ("cancelHistoricalData", (1020,), QUIET),
        ("reqCurrentTime", (), {49}),
        ("reqRealTimeBars", (1050, aapl, 5, "TRADES", False, []), {50}),
        ("cancelRealTimeBars", (1050,), QUIET),
        ("reqFundamentalData", (1052, aapl, "ReportSnapshot", []), error(10358)),
        ("cancelFundamentalData", (1052,), QUIET),
        ("calculateImpliedVolatility", (1054, aapl, 1.0, 100.0, []), error(200)),
        ("calculateOptionPrice", (1055, aapl, 0.2, 100.0, []), error(200)),
        ("cancelCalculateImpliedVolatility", (1054,), QUIET),
        ("cancelCalculateOptionPrice", (1055,), QUIET),
        ("reqGlobalCancel", (), QUIET),                        # no open order left to cancel
        ("reqMarketDataType", (1,), QUIET),
        ("reqPositions", (), {62}),
        ("reqAccountSummary", (1062, "All", "NetLiquidation"), {64}),
        ("cancelAccountSummary", (1062,), QUIET),
        ("cancelPositions", (), QUIET),
        ("verifyRequest", ("app", "1"), {66}),
        ("verifyMessage", ("data",), {66}),
        ("queryDisplayGroups", (1067,), {67}),
        ("subscribeToGroupEvents", (1068, 1), {68}),
        ("updateDisplayGroup", (1068, f"{con_id}@SMART"), {68}),
        ("unsubscribeFromGroupEvents", (1068,), QUIET),
        ("verifyAndAuthRequest", ("app", "1", "key"), {70}),
        ("verifyAndAuthMessage", ("data", "response"), {70}),
        ("reqPositionsMulti", (1074, ACCOUNT, ""), {72}),
        ("cancelPositionsMulti", (1074,), QUIET),
        ("reqAccountUpdatesMulti", (1076, ACCOUNT, "", False), {74}),
        ("cancelAccountUpdatesMulti", (1076,), QUIET),
        ("reqSecDefOptParams", (1078, "AAPL", "", "STK", con_id), {76}),
        ("reqSoftDollarTiers", (1079,), {77}),
        ("reqFamilyCodes", (), {78}),
        ("reqMatchingSymbols", (1081, "AAP"), {79}),
        ("reqMktDepthExchanges", (), {80}),
        ("reqSmartComponents", (1083, "a6"), {82}),
        ("reqNewsArticle", (1084, "BRFG", "BRFG$1", []), error(10276)),
        ("reqNewsProviders", (), {85}),
        ("reqHistoricalNews", (1086, con_id, "BRFG", "", "", 10, []), error(10276)),
        ("reqHeadTimeStamp", (1087, aapl, "TRADES", True, 1), {88}),
        ("reqHistogramData", (1088, aapl, True, "3 days"), {89}),
        ("cancelHistogramData", (1088,), QUIET),
        ("cancelHeadTimeStamp", (1087,), QUIET),
        ("reqMarketRule", (26,), {93}),
        ("reqPnL", (1092, ACCOUNT, ""), {94}),
        ("cancelPnL", (1092,), QUIET),
        ("reqPnLSingle", (1094, ACCOUNT, "", con_id), {95}),
        ("cancelPnLSingle", (1094,), QUIET),
        ("reqHistoricalTicks", (1096, aapl, "", "20261120 10:00:00 US/Eastern", 10, "TRADES", True, False, []),
         error(10187)),
        ("reqTickByTickData", (1097, aapl, "Last", 0, False), error(10189)),
        ("cancelTickByTickData", (1097,), QUIET),
        ("reqCompletedOrders", (False,), {102}),
        ("reqWshMetaData", (1100,), error(10276)),
        ("cancelWshMetaData", (1100,), QUIET),
        ("reqWshEventData", (1102, lib.WshEventData(conId=con_id)), error(10276)),
        ("cancelWshEventData", (1102,), QUIET),
        ("reqUserInfo", (1104,), {107}),
    ]


def encode_with_the_client(method: str, args: tuple) -> bytes:
    """The exact frame the client library's encoder writes for ``method(*args)`` at the agreed version."""
    client = CLIENT(None)                       # the library's Client, with no IB around it (nothing to disconnect)
    sent: list[str] = []
    client.isConnected = lambda: True          # encode only: nothing is connected
    client.sendMsg = sent.append
    client._serverVersion = VERSION
    getattr(client, method)(*args)
    (msg,) = sent
    payload = msg.encode()
    return struct.pack(">I", len(payload)) + payload


def sending_methods() -> set[str]:
    """Every request method of the client library (those that put a message on the wire)."""
    return {name for name, fn in inspect.getmembers(CLIENT, inspect.isfunction)
            if not name.startswith("_") and "self.send(" in inspect.getsource(fn) and name != "startApi"}


class RawConnection:
    """A connected, started API client on a bare socket that keeps every message it receives."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.messages: list[list[str]] = []
        self._sent: deque[float] = deque(maxlen=PACE)
        self._more = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int, client_id: int) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        greeting = f"v{CLIENT.MinClientVersion}..{CLIENT.MaxClientVersion}".encode()
        writer.write(b"API\0" + struct.pack(">I", len(greeting)) + greeting)
        (n,) = struct.unpack(">I", await reader.readexactly(4))
        version = (await reader.readexactly(n)).split(b"\0")[0]
        assert int(version) == VERSION
        payload = f"71\x002\x00{client_id}\x00\x00".encode()
        writer.write(struct.pack(">I", len(payload)) + payload)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while True:
                (n,) = struct.unpack(">I", await self.reader.readexactly(4))
                self.messages.append((await self.reader.readexactly(n)).decode().split("\0")[:-1])
                self._more.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            self._more.set()

    async def write(self, frame: bytes) -> None:
        """Send one request at most PACE a second, as the client libraries pace themselves (TWS allows 50)."""
        loop = asyncio.get_running_loop()
        if len(self._sent) == PACE:
            await asyncio.sleep(max(0.0, self._sent[0] + 1.0 - loop.time()))
        self._sent.append(loop.time())
        self.writer.write(frame)

    async def wait_for(self, predicate, since: int, timeout: float) -> list[str] | None:
        """The first message from index ``since`` on that satisfies ``predicate`` (None after ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = since
        while True:
            for m in self.messages[seen:]:
                if predicate(m):
                    return m
            seen = len(self.messages)
            left = deadline - loop.time()
            if left <= 0 or self._task.done():
                return None
            self._more.clear()
            try:
                await asyncio.wait_for(self._more.wait(), left)
            except asyncio.TimeoutError:
                return None

    def errors_for(self, req_id: int, since: int) -> list[tuple[int, str]]:
        return [(int(m[3]), m[4]) for m in self.messages[since:]
                if m[0] == "4" and int(m[2]) == req_id and int(m[3]) not in FARM_OK]

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def test_the_table_covers_every_request_the_client_can_send():
    client_methods = sending_methods()
    tested = {name for name, _args, _want in calls(Stock("AAPL", "SMART", "USD"), 265598)}
    assert client_methods - tested == set(), "a client request is not exercised here"
    table_names = {r.name for r in REQUESTS.values()}
    assert client_methods - table_names == set(), "a client request has no row in the gateway's table"


async def test_every_request_id_is_answered(gateway, client_id):
    aapl = Stock("AAPL", "SMART", "USD")
    con_id = gateway.universe.by_key["AAPL"].con_id
    conn = await RawConnection.open(gateway.port, client_id)
    try:
        assert await conn.wait_for(lambda m: m[0] == "9", 0, WAIT), "no nextValidId after startApi"
        assert any(m[:2] == ["15", "1"] for m in conn.messages), "no managedAccounts after startApi"
        sent_ids = {71}
        failures = []
        for method, args, want in calls(aapl, con_id):
            frame = encode_with_the_client(method, args)
            msg_id = int(frame[4:].split(b"\0", 1)[0])
            sent_ids.add(msg_id)
            req_id = REQUESTS[msg_id].req_id_at
            rid = -1 if req_id is None else int(frame[4:].split(b"\0")[req_id])
            since = len(conn.messages)
            await conn.write(frame)
            if want == QUIET:
                # TWS answers these with nothing: the next request is served and no error names this one
                await conn.write(encode_with_the_client("reqCurrentTime", ()))
                got = await conn.wait_for(lambda m: m[0] == "49", since, WAIT)
                errors = conn.errors_for(rid, since)
                if got is None or errors:
                    failures.append(f"{method} ({msg_id}): expected no answer, got {errors or 'a dead connection'}")
            elif isinstance(want, tuple):
                code = want[1]
                got = await conn.wait_for(lambda m, c=code: m[0] == "4" and m[3] == str(c), since, WAIT)
                if got is None or int(got[2]) != rid:
                    failures.append(f"{method} ({msg_id}): expected error {code} for reqId {rid}, got "
                                    f"{got or conn.messages[since:since + 3]}")
            else:
                budget = BUDGET.get(method, WAIT)
                got = await conn.wait_for(lambda m, w=want: m[0] in {str(x) for x in w}, since, budget)
                if got is None:
                    failures.append(f"{method} ({msg_id}): no {sorted(want)} within {budget} s; got "
                                    f"{conn.errors_for(rid, since) or conn.messages[since:since + 3]}")
        assert failures == []
        assert sent_ids == set(REQUESTS) | {71}, "every id of the table was sent once"
    finally:
        await conn.close()


def test_min_fields_are_what_the_encoders_write_at_the_least():
    """The table's MIN_FIELDS (below which a request is refused with 320) is the shortest message the client
    library's encoders write for each request at any version the gateway serves: no valid request is refused."""
    from breakout_kit.gateway.wire.versions import MIN_VERSION

    def length(method: str, args: tuple, version: int) -> int:
        client = CLIENT(None)
        sent: list[str] = []
        client.isConnected = lambda: True
        client.sendMsg = sent.append
        client._serverVersion = version
        getattr(client, method)(*args)
        return len(sent[0].split("\0")) - 1

    fewest = {}
    for method, args, _want in calls(Stock("AAPL", "SMART", "USD"), 265598):
        msg_id = int(encode_with_the_client(method, args)[4:].split(b"\0", 1)[0])
        fewest[msg_id] = min(length(method, args, v) for v in range(MIN_VERSION, VERSION + 1))
    assert {msg_id: r.size for msg_id, r in REQUESTS.items()} == fewest
