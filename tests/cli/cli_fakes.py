"""Small in-process fakes of the pinned IBClient / BreakoutWatcher APIs for dispatcher tests (no sockets)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace

import pandas as pd

from breakout_kit.client.events import Event

KNOWN = {"AAPL", "MSFT", "SPY", "BRK.B"}


class FakeContractError(ValueError):
    pass


class FakeClient:
    """Records calls; unknown symbols raise like IBClient.qualify does."""

    def __init__(self, host=None, port=None, client_id=None, *, trading: bool = False, **kw):
        self.trading = trading
        self.settings = SimpleNamespace(host=host, port=port, client_id=client_id or 1)
        self.account = "DU1234567"
        self.connected = False
        self.calls: list[tuple] = []
        self.order_refs: list[str] = []  # the idempotency key of every placement, in order
        self.next_id = 10
        self.fill_event = Event("fill")
        self.working: list[dict] = []   # open orders: the legs of every bracket placed
        self.held = {"AAPL": 10.0}      # positions
        self.max_quantity = 1000

    @property
    def paper(self) -> bool:
        return self.account.startswith("DU")

    async def connect(self):
        self.connected = True

    async def disconnect(self):
        self.connected = False

    async def qualify(self, symbol):
        self.calls.append(("qualify", symbol))
        if symbol not in KNOWN:
            raise FakeContractError(f"unknown symbol {symbol}")
        return SimpleNamespace(symbol=symbol)

    async def matching_symbols(self, pattern):
        return sorted(s for s in KNOWN if s.startswith(pattern.upper()))

    async def place_buy_bracket_pct_async(self, symbol, quantity, take_profit_pct, stop_loss_pct, *,
                                          entry="market", order_ref=None, force=False):
        await self.qualify(symbol)
        self.calls.append(("bracket", symbol, quantity, take_profit_pct, stop_loss_pct, entry))
        self.order_refs.append(order_ref)
        ref = 100.0 if entry == "market" else entry
        ids = range(self.next_id, self.next_id + 3)
        self.next_id += 3
        self.working += [{"order_id": i, "symbol": symbol, "order_ref": f"bk-{ids[0]}",
                          "action": "BUY" if i == ids[0] else "SELL", "quantity": quantity, "filled": 0,
                          "parent_id": 0 if i == ids[0] else ids[0]} for i in ids]
        kinds = [("MKT" if entry == "market" else "LMT", ref), ("LMT", ref * (1 + take_profit_pct / 100)),
                 ("STP", ref * (1 - stop_loss_pct / 100))]
        return tuple(SimpleNamespace(order_id=i, action="BUY" if n == 0 else "SELL", type=k,
                                     price=float("nan") if k == "MKT" else p)
                     for n, (i, (k, p)) in enumerate(zip(ids, kinds)))

    async def reference_price(self, symbol):
        await self.qualify(symbol)
        return 100.0

    async def place_order_async(self, symbol, action, quantity, *, limit=None, order_ref=None, force=False):
        await self.qualify(symbol)
        self.order_refs.append(order_ref)
        self.calls.append(("order", symbol, action, quantity, limit))
        self.next_id += 1
        return SimpleNamespace(order_id=self.next_id - 1, status="Submitted",
                               price=float("nan") if limit is None else limit)

    async def pnl(self):
        return {"daily": 12.3, "unrealized": -2.5, "realized": float("nan")}

    async def cancel_order(self, order_id):
        self.calls.append(("cancel", order_id))
        self.working = [o for o in self.working if o["order_id"] != order_id and o["parent_id"] != order_id]
        return SimpleNamespace(order_id=order_id, status="Cancelled")

    async def cancel_all_orders(self):
        self.calls.append(("cancel_all",))
        return 3

    async def open_orders(self):
        return pd.DataFrame(self.working, columns=["order_id", "symbol", "action", "quantity", "filled", "parent_id",
                                                   "order_ref"])

    async def positions(self):
        return pd.DataFrame({"symbol": list(self.held), "position": list(self.held.values()),
                             "avgCost": [100.0] * len(self.held)})

    async def account_summary(self):
        tags = ["AccountType", "NetLiquidation", "Cushion", "BuyingPower"]
        return pd.DataFrame({"tag": tags, "value": ["INDIVIDUAL", "1000000", "1", "4000000"],
                             "currency": ["", "USD", "", "USD"]})


@dataclass
class FakeBar:
    time: pd.Timestamp
    close: float


class FakeWatcher:
    """Runs until stop(); can be told to emit a signal."""

    def __init__(self, client, symbol, rule=None, bar_size="1 min", trade=None, **kw):
        self.client, self.symbol, self.rule, self.bar_size, self.trade = client, symbol, rule, bar_size, trade
        self.state = "starting"
        self.error = None
        self.signals = []
        self.last_bar = None
        self.signal_event = Event("signal")
        self.state_event = Event("state")
        self.bar_event = Event("bar")
        self.bars_seen = 0
        self._stopped = None
        self._task = None

    @property
    def replaying(self) -> bool:
        """Like BreakoutWatcher.replaying: a fake's first backfill is its starting/backfilling states."""
        return self.state in ("starting", "backfilling")

    def start(self):
        self._stopped = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self._task

    async def _run(self):
        self.state = "live"
        self.state_event.emit(self, "live")
        await self._stopped.wait()
        self.state = "stopped"

    def emit(self, signal):
        self.signals.append(signal)
        self.last_bar = FakeBar(signal.time, signal.price)
        self.signal_event.emit(self, signal)

    def stop(self):
        if self._stopped is not None:
            self._stopped.set()

    def __await__(self):
        return self._task.__await__()


def fake_trade(quantity, take_profit_pct, stop_loss_pct):
    return SimpleNamespace(quantity=quantity, take_profit_pct=take_profit_pct, stop_loss_pct=stop_loss_pct)


def fake_rule(**kw):
    return SimpleNamespace(**kw)


async def fake_ingest(client, symbols, duration, bar_size, dest):
    """Like ingest.ingest's summary: MSFT raises, BRK.B reports an error in its row, others succeed."""
    if symbols == ["MSFT"]:
        raise RuntimeError("boom")
    if symbols == ["BRK.B"]:
        return pd.DataFrame({"symbol": symbols, "rows": [0], "new_rows": [0], "error": ["unknown symbol BRK.B"]})
    return pd.DataFrame({"symbol": symbols, "rows": [42] * len(symbols), "new_rows": [40] * len(symbols),
                         "error": [""] * len(symbols)})
