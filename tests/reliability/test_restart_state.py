"""Gateway restart with state: the orders and positions a trading client sees before a listener restart (and a
plain drop) are identical after its supervisor reconnected."""

from __future__ import annotations

import pandas as pd
import pytest

from breakout_kit.client.ib_client import IBClient
from breakout_kit.gateway import PaperGateway

from .storm import SESSION_OPEN, until

pytestmark = pytest.mark.ib

SPEED = 60.0


async def snapshot(c: IBClient) -> tuple[pd.DataFrame, pd.DataFrame]:
    orders = (await c.open_orders()).sort_values("order_id").reset_index(drop=True)
    positions = (await c.positions()).sort_values("symbol").reset_index(drop=True)
    # marks move with the market between the two looks; what the account holds must not
    return orders, positions[["account", "symbol", "position", "avg_cost"]]


@pytest.mark.parametrize("fault", ["restart", "drop"])
async def test_orders_and_positions_identical_across_a_restart(fault, client_id):
    async with (PaperGateway(port=0, speed=SPEED, start=SESSION_OPEN, pacing="off") as gw,
                IBClient(port=gw.port, client_id=client_id, trading=True, clock_speed=SPEED,
                         reconnect_delays=(0.05,)) as c):
        filled = await c.place_buy_bracket_pct_async("SPY", 5, 5.0, 5.0)               # market entry: fills
        await until(c.ib.updateEvent, lambda: filled.parent.status == "Filled", what="entry filled")
        ref = await c.reference_price("AAPL")
        await c.place_buy_bracket_pct_async("AAPL", 3, 2.0, 1.0, entry=round(ref * 0.8, 2))   # rests: open
        orders, positions = await snapshot(c)
        assert len(orders) >= 4 and positions["position"].tolist() == [5.0]
        if fault == "restart":
            await gw.faults.restart_listener(down=0.2)
        else:
            gw.faults.drop(client_id)
        await until(c.resubscribe_event, lambda: c.reconnects == 1 and c.connected, what="reconnected")
        orders_after, positions_after = await snapshot(c)
        pd.testing.assert_frame_equal(orders_after, orders)
        pd.testing.assert_frame_equal(positions_after, positions)
