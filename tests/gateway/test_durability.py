"""kill -9 at seeded random instants around fills and brackets, then restart from the state file: every fill a
client saw is there exactly once (by execId), every order it saw is there, and order ids, permIds and execIds never
repeat and strictly increase across the crashes. Process level: the gateway runs as ``python -m
breakout_kit.gateway --state F`` and is killed with SIGKILL, the client is ib_insync over the socket."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from breakout_kit.client.iblib import IB, LimitOrder, MarketOrder, Order, Stock

from . import durable_helpers as gwp

pytestmark = pytest.mark.ib

CLIENT_ID = 7
SYMBOLS = ["SPY", "AAPL", "MSFT"]


@dataclass
class Seen:
    """What the client was told, over every trial."""

    fills: dict[str, tuple] = field(default_factory=dict)          # execId -> (permId, shares, price)
    orders: dict[int, int] = field(default_factory=dict)           # permId -> orderId
    max_order_id: int = 0
    max_perm: int = 0
    max_exec_seq: int = 0

    def watch(self, ib: IB, problems: list[str]) -> None:
        def on_order(trade):
            o = trade.order
            if not o.permId:
                return
            known = self.orders.setdefault(o.permId, o.orderId)
            if known != o.orderId:
                problems.append(f"permId {o.permId} re-used: order {known}, then order {o.orderId}")

        def on_fill(trade, fill):
            ex = fill.execution
            got = (ex.permId, ex.shares, ex.price)
            known = self.fills.setdefault(ex.execId, got)
            if known != got:
                problems.append(f"execId {ex.execId} re-used: {known}, then {got}")

        ib.openOrderEvent += on_order
        ib.orderStatusEvent += on_order
        ib.execDetailsEvent += on_fill

    def mark(self) -> tuple[int, int, int]:
        """The highest ids seen so far (what the next trial's new ids must exceed)."""
        return (max(self.orders.values(), default=0), max(self.orders, default=0),
                max((exec_seq(e) for e in self.fills), default=0))


def exec_seq(exec_id: str) -> int:
    return int(exec_id.split(".")[1], 16)


async def reference_prices(ib: IB) -> dict[str, float]:
    prices = {}
    for sym in SYMBOLS:
        bars = await ib.reqHistoricalDataAsync(Stock(sym, "SMART", "USD"), "", "300 S", "5 secs", "TRADES", False)
        prices[sym] = bars[-1].close
    return prices


def bracket(ib: IB, contract, quantity: int, price: float) -> list:
    """A market entry with a far take-profit and stop (TWS's transmit sequence: the stop transmits all three)."""
    parent = MarketOrder("BUY", quantity, orderId=ib.client.getReqId(), transmit=False)
    tp = LimitOrder("SELL", quantity, round(price * 1.3, 2), orderId=ib.client.getReqId(), parentId=parent.orderId,
                    transmit=False)
    sl = Order(action="SELL", totalQuantity=quantity, orderType="STP", auxPrice=round(price * 0.7, 2),
               orderId=ib.client.getReqId(), parentId=parent.orderId, transmit=True)
    return [ib.placeOrder(contract, o) for o in (parent, tp, sl)]


async def connect(port: int) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=CLIENT_ID, readonly=False, timeout=20)
    return ib


async def check_after_restart(ib: IB, seen: Seen) -> None:
    """Everything the client was told before the crash is in the restarted gateway, each fill once."""
    fills = await ib.reqExecutionsAsync()
    ids = [f.execution.execId for f in fills]
    assert len(ids) == len(set(ids)), f"an execId reported twice: {sorted(ids)}"
    have = {f.execution.execId: (f.execution.permId, f.execution.shares, f.execution.price) for f in fills}
    lost = {e: v for e, v in seen.fills.items() if have.get(e) != v}
    assert not lost, f"fills the client saw are gone or changed after the restart: {lost}"
    open_trades = await ib.reqAllOpenOrdersAsync()
    done = await ib.reqCompletedOrdersAsync(apiOnly=True)
    perms = {t.order.permId for t in (*open_trades, *done)}
    missing = set(seen.orders) - perms
    assert not missing, f"orders the client saw are gone after the restart: permIds {sorted(missing)}"


async def run_trials(tmp_path, seed: int, trials: int) -> dict:
    rng = random.Random(seed)
    state = tmp_path / "gw.json"
    seen = Seen()
    problems: list[str] = []
    stats = {"trials": 0, "fills_seen": 0, "orders_seen": 0, "torn_records_dropped": 0}
    gw = await gwp.start(state, "--start", gwp.START)
    try:
        for trial in range(trials):
            ib = await connect(gw.port)
            try:
                if trial:
                    await check_after_restart(ib, seen)
                seen.watch(ib, problems)
                before = seen.mark()
                old_fills = set(seen.fills)
                prices = await reference_prices(ib)
                placed = []
                for _ in range(rng.randint(1, 4)):
                    sym = rng.choice(SYMBOLS)
                    contract = Stock(sym, "SMART", "USD")
                    if rng.random() < 0.4:
                        placed += bracket(ib, contract, rng.randint(1, 5), prices[sym])
                    else:
                        placed.append(ib.placeOrder(contract, MarketOrder(rng.choice(["BUY", "SELL"]),
                                                                          rng.randint(1, 5))))
                    # the instant under test: kills land before, during and after acks and fills
                    await asyncio.sleep(rng.uniform(0, 0.05))
                await asyncio.sleep(rng.uniform(0, 0.3))
                new_orders = [t.order for t in placed if t.order.permId]
                assert all(o.orderId > before[0] for o in new_orders), (before, new_orders)
                assert all(o.permId > before[1] for o in new_orders), (before, new_orders)
                new_fills = set(seen.fills) - old_fills
                assert all(exec_seq(e) > before[2] for e in new_fills), (before, sorted(new_fills))
                err = await gw.kill()
            finally:
                ib.disconnect()
            stats["torn_records_dropped"] += err.count("dropped a torn last record")
            assert not problems, problems
            stats["trials"] += 1
            gw = await gwp.start(state)
        ib = await connect(gw.port)
        try:
            await check_after_restart(ib, seen)
        finally:
            ib.disconnect()
    finally:
        await gw.kill()
    stats["fills_seen"], stats["orders_seen"] = len(seen.fills), len(seen.orders)
    return stats


async def test_kill_9_around_fills_loses_nothing_a_client_saw_and_never_reuses_ids(tmp_path):
    stats = await run_trials(tmp_path, seed=22, trials=10)
    print("kill -9 trials:", stats)
    assert stats["trials"] == 10 and stats["fills_seen"] > 0 and stats["orders_seen"] > 0


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_kill_9_fifty_trials(tmp_path):
    stats = await run_trials(tmp_path, seed=2222, trials=50)
    print("kill -9 trials:", stats)
    assert stats["trials"] == 50 and stats["fills_seen"] > 0
