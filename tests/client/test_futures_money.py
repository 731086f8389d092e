"""Futures money through the real client and gateway: positions, P&L and fills with the multiplier (exact), the
contract cap, tick-rounded brackets."""

from __future__ import annotations

import asyncio

import pytest

from breakout_kit.client.errors import OrderRejected
from breakout_kit.client.ib_client import IBClient


@pytest.fixture
async def trader(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id, clock_speed=gateway.clock.speed, trading=True,
                        throttle=False) as c:
        yield c


async def _fill(client, order_ref):
    loop = asyncio.get_running_loop()
    got = loop.create_future()

    def on_fill(ex):
        if ex.order_ref == order_ref and not got.done():
            got.set_result(ex)

    client.fill_event += on_fill
    try:
        return await asyncio.wait_for(got, 30)
    finally:
        client.fill_event -= on_fill


async def test_positions_and_pnl_exact_with_the_multiplier(trader):
    buy_wait = asyncio.ensure_future(_fill(trader, "es-buy"))
    await trader.place_order_async("ESZ6", "BUY", 1, order_ref="es-buy")
    buy = await buy_wait
    assert buy.symbol == "ESZ6" and buy.price % 0.25 == 0
    [row] = (await trader.positions()).query("symbol == 'ESZ6'").to_dict("records")
    commission = row["avg_cost"] - buy.price * 50          # IB's avgCost of a future: price x multiplier + fees
    assert row["multiplier"] == 50 and 0 < commission < 5
    assert row["market_value"] == pytest.approx(row["market_price"] * 50, abs=0.005)
    assert row["unrealized_pnl"] == pytest.approx(row["market_value"] - row["avg_cost"], abs=0.01)
    sell_wait = asyncio.ensure_future(_fill(trader, "es-sell"))
    await trader.place_order_async("ESZ6", "SELL", 1, order_ref="es-sell")
    sell = await sell_wait
    pnl = await trader.pnl()
    # the same one-contract commission on both sides
    assert pnl["realized"] == pytest.approx((sell.price - buy.price) * 50 - 2 * commission, abs=0.01)


async def test_contract_cap_and_tick_rounded_bracket(trader):
    with pytest.raises(OrderRejected, match="exceeds the per-order limit of 10 futures contracts"):
        await trader.place_order_async("/ES", "BUY", 20, limit=1000.0)
    # forced: sent (20 x 1000 points x 50 = 1 M notional: 250 k of margin, within the account's 1 M)
    big = await trader.place_order_async("/ES", "BUY", 20, limit=1000.0, force=True)
    assert big.quantity == 20
    await trader.cancel_order(big.order_id)
    bracket = await trader.place_buy_bracket_pct_async("ESZ6", 1, 0.5, 0.25, entry=6801.1)
    parent, tp, sl = bracket
    assert parent.limit == 6801.0 and tp.limit % 0.25 == 0 and sl.stop % 0.25 == 0
    assert tp.limit == round(6801.0 * 1.005 * 4) / 4 and sl.stop == round(6801.0 * 0.9975 * 4) / 4
    await trader.cancel_order(parent.order_id)
