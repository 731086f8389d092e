"""Helpers for the order/account tests: a faster gateway, known prices from the gateway's own truth, waits."""

from __future__ import annotations

import contextlib
import math
from datetime import timedelta

from breakout_kit.client.iblib import Stock
from breakout_kit.gateway import PaperGateway

from .conftest import connect, wait_until

AAPL = Stock("AAPL", "SMART", "USD")
MSFT = Stock("MSFT", "SMART", "USD")


@contextlib.asynccontextmanager
async def fast_gateway(start, speed=300.0, **kwargs):
    """A gateway at ``speed`` (5 simulated seconds ~ 17 ms real at 300x), pacing off."""
    async with PaperGateway(port=0, seed=0, speed=speed, start=start, pacing="off", **kwargs) as gw:
        yield gw


@contextlib.asynccontextmanager
async def trader(gw, client_id):
    """A connected, order-capable client."""
    async with connect(gw, client_id, readonly=False) as ib:
        yield ib


def last_close(gw, symbol="AAPL") -> float:
    """The close of the latest completed 5-second bar: the gateway's mark and the centre of its quote."""
    db, i = gw.market.last_bar(symbol, gw.clock.epoch())
    return int(db.c[i]) / 100


def path(gw, symbol, minutes, after=None):
    """The gateway's 5-second bars from now (or ``after``) for ``minutes`` simulated minutes."""
    t0 = after or gw.now()
    return gw.history(symbol, 5, t0 - timedelta(seconds=5), t0 + timedelta(minutes=minutes))


def tick(price: float) -> float:
    return round(price, 2)


def floor_tick(price: float) -> float:
    return math.floor(price * 100) / 100


def ceil_tick(price: float) -> float:
    return math.ceil(price * 100) / 100


async def done(ib, *trades, timeout=20.0):
    await wait_until(ib, lambda: all(t.isDone() for t in trades), timeout, what=f"trades {trades} done")


async def status(ib, trade, wanted, timeout=20.0):
    await wait_until(ib, lambda: trade.orderStatus.status == wanted, timeout,
                     what=f"order {trade.order.orderId} {wanted} (is {trade.orderStatus.status})")


def value(ib, tag, summary=False) -> float:
    """An account value (from reqAccountUpdates, or the account summary) as a float."""
    rows = ib.wrapper.acctSummary.values() if summary else ib.accountValues()
    got = [v for v in rows if v.tag == tag and v.currency == "USD"]
    assert got, f"no account value {tag}"
    return float(got[0].value)
