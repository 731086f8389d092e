"""IB's own Python client (PyPI ``ibapi`` 9.81, nobody here wrote it) against the embedded gateway: every request a
breakout user makes is answered, nothing hangs.

ibapi is a threaded client: ``EClient.run()`` reads messages on its own thread and calls the ``EWrapper`` methods
there. The test thread sends requests and waits on one ``threading.Event`` per answer (bounded), while the gateway
runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict

import pytest
from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.scanner import ScannerSubscription
from ibapi.wrapper import EWrapper

from breakout_kit.gateway import PaperGateway

pytestmark = pytest.mark.ib
WAIT = 15.0


def stock(symbol: str) -> Contract:
    c = Contract()
    c.symbol, c.secType, c.exchange, c.currency = symbol, "STK", "SMART", "USD"
    return c


class App(EWrapper, EClient):
    """Records every answer by request id; ``done[key]`` is set when an answer (or an error for it) arrived."""

    def __init__(self):
        EClient.__init__(self, self)
        self.done: dict = defaultdict(threading.Event)
        self.rows: dict = defaultdict(list)
        self.errors: dict = defaultdict(list)

    def finish(self, key, row=None):
        if row is not None:
            self.rows[key].append(row)
        self.done[key].set()

    def wait(self, key) -> bool:
        return self.done[key].wait(WAIT)

    # answers --------------------------------------------------------------------------------------------------
    def error(self, reqId, errorCode, errorString):
        self.errors[reqId].append(errorCode)
        if errorCode not in (2104, 2106, 2107, 2108, 2158):   # farm status lines are not answers
            self.done[reqId].set()

    def nextValidId(self, orderId):
        self.finish("next_id", orderId)

    def managedAccounts(self, accountsList):
        self.finish("accounts", accountsList)

    def contractDetails(self, reqId, contractDetails):
        self.rows[reqId].append(contractDetails)

    def contractDetailsEnd(self, reqId):
        self.finish(reqId)

    def historicalData(self, reqId, bar):
        self.rows[reqId].append(bar)

    def historicalDataEnd(self, reqId, start, end):
        self.finish(reqId)

    def realtimeBar(self, reqId, time, open_, high, low, close, volume, wap, count):
        self.finish(reqId, (time, close))

    def tickPrice(self, reqId, tickType, price, attrib):
        self.rows[reqId].append((tickType, price))

    def tickSnapshotEnd(self, reqId):
        self.finish(reqId)

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, *args):
        self.rows[("status", orderId)].append(status)
        if status == "Filled":
            self.done[("filled", orderId)].set()

    def execDetails(self, reqId, contract, execution):
        self.finish("exec", execution.execId)

    def position(self, account, contract, position, avgCost):
        self.rows["positions"].append((contract.symbol, position))

    def positionEnd(self):
        self.finish("positions")

    def accountSummary(self, reqId, account, tag, value, currency):
        self.rows[reqId].append((tag, value))

    def accountSummaryEnd(self, reqId):
        self.finish(reqId)

    def scannerData(self, reqId, rank, contractDetails, distance, benchmark, projection, legsStr):
        self.rows[reqId].append(contractDetails.contract.symbol)

    def scannerDataEnd(self, reqId):
        self.finish(reqId)


def drive(port: int) -> dict:
    """Everything, in order, from a thread (ibapi is blocking); returns what came back."""
    app = App()
    app.connect("127.0.0.1", port, clientId=7)
    reader = threading.Thread(target=app.run, name="ibapi reader", daemon=True)
    reader.start()
    try:
        got = {"version": app.serverVersion()}
        assert app.wait("next_id") and app.wait("accounts"), "no nextValidId / managedAccounts after connecting"
        app.reqContractDetails(1, stock("AAPL"))
        app.reqContractDetails(2, stock("ZZZZ"))
        for req_id, fmt, bar in ((3, 1, "1 min"), (4, 2, "1 min"), (5, 1, "1 day")):
            app.reqHistoricalData(req_id, stock("MSFT"), "", "2 D", bar, "TRADES", 0, fmt, False, [])
        app.reqHistoricalData(6, stock("MSFT"), "", "1 D", "7 mins", "TRADES", 0, 1, False, [])   # a bad bar size
        app.reqRealTimeBars(7, stock("SPY"), 5, "TRADES", False, [])
        app.reqMktData(8, stock("AAPL"), "", True, False, [])
        app.reqMktDepth(9, stock("AAPL"), 5, False, [])
        app.reqAccountSummary(10, "All", "NetLiquidation,TotalCashValue,BuyingPower")
        sub = ScannerSubscription()
        sub.instrument, sub.locationCode, sub.scanCode, sub.numberOfRows = "STK", "STK.US.MAJOR", "MOST_ACTIVE", 5
        app.reqScannerSubscription(11, sub, [], [])
        for key in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11):
            assert app.wait(key), f"request {key} was never answered"
        order = Order()
        order.action, order.orderType, order.totalQuantity = "BUY", "MKT", 10
        order_id = app.rows["next_id"][0]
        app.placeOrder(order_id, stock("AAPL"), order)
        assert app.done[("filled", order_id)].wait(WAIT) and app.wait("exec"), "the market order never filled"
        app.reqPositions()
        assert app.wait("positions")
        got.update(rows=dict(app.rows), errors=dict(app.errors), order_id=order_id)
        return got
    finally:
        app.disconnect()
        reader.join(WAIT)


async def test_ibs_own_python_client_gets_an_answer_to_everything(session_open):
    async with PaperGateway(port=0, speed=60.0, start=session_open) as gw:
        got = await asyncio.wait_for(asyncio.to_thread(drive, gw.port), 120)
    rows, errors = got["rows"], got["errors"]
    assert got["version"] == 157                                   # ibapi 9.81 offers up to 157: the top both know
    assert rows["accounts"] == ["DU1234567"]
    (details,) = rows[1]
    assert details.contract.symbol == "AAPL" and details.minTick == 0.01 and details.timeZoneId
    assert errors[2] == [200] and 2 not in rows                    # unknown symbol: TWS's 200
    assert len(rows[3]) > 100 and len(rows[4]) == len(rows[3])     # both date formats
    assert str(rows[4][0].date).isdigit()                          # formatDate=2: epoch seconds
    assert len(rows[5]) == 2 and len(str(rows[5][0].date)) == 8    # daily bars as yyyymmdd
    assert errors[6] == [321] and 6 not in rows                    # the bad bar size: TWS's 321
    assert rows[7] and rows[7][0][1] > 0                           # a real-time bar
    assert any(price > 0 for _, price in rows[8])                  # the snapshot's ticks
    assert errors[9] == [10092]                                    # no depth subscription: TWS's error
    assert {tag for tag, _ in rows[10]} == {"NetLiquidation", "TotalCashValue", "BuyingPower"}
    assert len(rows[11]) % 5 == 0 and len(set(rows[11][:5])) == 5  # 5 rows a refresh (~30 s, 0.5 s at 60x)
    assert ("AAPL", 10) in rows["positions"]
    assert "Filled" in rows[("status", got["order_id"])]
