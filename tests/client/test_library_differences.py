"""Where ib_insync and ib_async behave differently, IBClient must not: the same call gives the same outcome
with either library (CI runs this file in both venvs; README, "Choosing the client library")."""

from __future__ import annotations

import asyncio

import pytest

from breakout_kit.client.ib_client import IBClient, OrderRejected
from breakout_kit.client.iblib import Stock
from breakout_kit.gateway import PaperGateway

pytestmark = pytest.mark.ib


async def test_bracket_refused_with_321_is_rejected_not_accepted(client_id, gateway):
    # TWS in "Read-Only API" mode answers placeOrder with error 321 only. ib_insync cancels the trade on it;
    # ib_async takes 321 as a warning and leaves the trade in status ValidationError (neither pending nor done).
    async with (PaperGateway(port=0, speed=60.0, start=gateway.clock.start, pacing="off",
                             readonly_api=True) as gw,
                IBClient(port=gw.port, client_id=client_id, trading=True, timeout=5) as c):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(OrderRejected, match="TWS refused order .*read-only"):
            await c.place_buy_bracket_pct_async("AAPL", 1, 2.0, 1.0)
        assert loop.time() - t0 < 3          # refused at once, not after the acknowledgement timeout
        assert not gw.orders.orders          # and nothing is live at the gateway


async def test_unqualified_contracts_are_qualified_before_use(client_id, gateway):
    # ib_async refuses to hash a Contract without conId (reqMktData / reqTickers on a bare Stock raise
    # ValueError); IBClient qualifies first, so a partial Contract works with both libraries.
    async with IBClient(port=gateway.port, client_id=client_id) as c:
        assert await c.reference_price(Stock("AAPL", "SMART", "USD")) > 0


async def test_cancel_is_one_cancellation_per_order(client_id, gateway):
    # ib_async takes error 202 as "order cancelled" (and then ignores the unchanged orderStatus), ib_insync ignores
    # 202 and goes by orderStatus Cancelled. The gateway sends both, as TWS does: one cancellation either way.
    async with IBClient(port=gateway.port, client_id=client_id, trading=True) as c:
        price = await c.reference_price("AAPL")
        bracket = await c.place_buy_bracket_pct_async("AAPL", 1, 2.0, 1.0, entry=round(price * 0.5, 2))
        # this test is about the library's own events: look at its Trade objects behind the façade's views
        by_id = {t.order.orderId: t for t in c.ib.trades()}
        trades = [by_id[o.order_id] for o in bracket]
        cancelled = {t.order.orderId: 0 for t in trades}
        for t in trades:
            t.cancelledEvent += lambda trade: cancelled.__setitem__(trade.order.orderId,
                                                                    cancelled[trade.order.orderId] + 1)
        await c.cancel_order(trades[0].order.orderId)          # the parent takes its children along
        await c.ib.reqCurrentTimeAsync()                              # any late 202 has arrived by now
        assert [t.orderStatus.status for t in trades] == ["Cancelled"] * 3
        assert list(cancelled.values()) == [1, 1, 1]
        assert all(sum(e.status == "Cancelled" for e in t.log) == 1 for t in trades)
