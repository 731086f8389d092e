"""Reconciliation with TWS: the kit's orders and fills are checked against TWS after every reconnect, and whenever a
placement's acknowledgement is lost, before the placing call answers.

TWS is the truth. Orders are matched by their idempotency key (``orderRef``) and ids (clientId + orderId for open
orders, permId otherwise); fills by execId, each emitted once on ``fill_event`` (those that happened while the
connection was down are emitted after the reconnect). A placement that TWS did not fully receive is never left
half there: the legs that arrived (held, never live: a bracket goes live only with its last leg) are cancelled and
the caller is told, in one line, that nothing was placed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Any

import pandas as pd

from breakout_kit.client.iblib import Event, Order, Trade
from breakout_kit.client.orders import PlacedOrder
from breakout_kit.client.realtime import Execution
from breakout_kit.client.supervisor import Supervisor

log = logging.getLogger("breakout_kit.client.ib_client")

CANCELLED, NOT_FOUND, ALREADY_DONE = 202, 10147, 10148
DEAD = ("Cancelled", "ApiCancelled", "Inactive")


@dataclass
class Sent:
    """A placement whose acknowledgement is not in: its key, its legs in send order, and how to name it."""

    ref: str
    orders: list[Order]
    what: str                  # e.g. "bracket BUY 10 AAPL"
    cause: str = "the connection dropped while sending it"

    @property
    def ids(self) -> list[int]:
        return [o.orderId for o in self.orders]


class NotPlaced(Exception):
    """TWS has nothing of a placement live or filled (legs that arrived were cancelled); the message says which."""


def is_dead(trade: Trade) -> bool:
    """Cancelled, refused or inactive with nothing filled: it never traded and never will. (A completed order
    carries no fills of its own: its ``filledQuantity`` says whether it traded; unset is the max double.)"""
    filled_quantity = getattr(trade.order, "filledQuantity", 0) or 0
    traded = trade.filled() or trade.orderStatus.filled or 0 < filled_quantity < 1e300
    return trade.orderStatus.status in DEAD and not traded


class Reconciler:
    """Keeps the client's orders and fills equal to TWS's (module doc)."""

    def __init__(self, conn: Supervisor) -> None:
        self._conn = conn
        #: emits an ``Execution`` for every fill, each execId once (fills missed while disconnected: after the
        #: reconnect)
        self.fill_event = Event("fill")
        self._fills: dict[str, Execution] = {}
        self._views: weakref.WeakSet[PlacedOrder] = weakref.WeakSet()
        #: placements whose callers gave up while disconnected: settled after the next reconnect
        self.unresolved: dict[str, Sent] = {}
        self.busy: set[str] = set()          # refs a placing call is settling itself
        # the client library keys open-order and completed-order requests by name, not by id: a second one in
        # flight would take the first one's answer, so they go one at a time
        self._asking = asyncio.Lock()
        conn.ib.execDetailsEvent += lambda trade, fill: self._add_fill(fill)
        self._first = True
        conn.on_connect(self._on_connect)
        conn.on_reconnect(self.after_reconnect)

    # ---- fills ---------------------------------------------------------------------------------------------
    def _add_fill(self, fill: Any) -> None:
        ex = Execution.from_fill(fill)
        if ex.exec_id not in self._fills:
            self._fills[ex.exec_id] = ex
            self.fill_event.emit(ex)

    async def _on_connect(self) -> None:
        """The first connect: the day's earlier fills are known (``executions()``), not news (no event). A later
        ``connect()`` (after a drop without automatic reconnects) reconciles like a reconnect."""
        if not self._first:
            await self.after_reconnect()
            return
        self._first = False
        for fill in self._conn.ib.fills():
            self._fills.setdefault(fill.execution.execId, Execution.from_fill(fill))

    def executions(self) -> pd.DataFrame:
        rows = list(self._fills.values())
        return pd.DataFrame(rows, columns=list(Execution.__dataclass_fields__))

    def traded(self, ref: str) -> bool:
        return any(ex.order_ref == ref for ex in self._fills.values())

    # ---- orders --------------------------------------------------------------------------------------------
    def view(self, trade: Trade) -> PlacedOrder:
        """A ``PlacedOrder`` that stays live across reconnects (re-pointed by ``after_reconnect``)."""
        v = PlacedOrder(trade)
        self._views.add(v)
        return v

    async def snapshot(self, executions: bool = True) -> list[Trade]:
        """TWS's state now: every open order of the account and the completed orders (``trades`` of the client
        library are refreshed by these answers); with ``executions``, also the fills (new ones are emitted)."""
        ib, timed = self._conn.ib, self._conn.timed
        async with self._asking:
            open_trades = await timed(ib.reqAllOpenOrdersAsync(), "open orders")
            completed = await timed(ib.reqCompletedOrdersAsync(False), "completed orders")
        for fill in await timed(ib.reqExecutionsAsync(), "executions") if executions else ():
            self._add_fill(fill)
        return [*open_trades, *completed]

    async def open_trades(self) -> list[Trade]:
        """Every open order of the account (all clients), as TWS reports it now."""
        async with self._asking:
            return await self._conn.timed(self._conn.ib.reqAllOpenOrdersAsync(), "open orders")

    def with_ref(self, ref: str, trades: list[Trade] | None = None) -> list[Trade]:
        """The orders carrying ``ref`` (one per order), oldest first."""
        seen: dict[Any, Trade] = {}
        for t in self._conn.ib.trades() if trades is None else trades:
            if t.order.orderRef == ref:
                seen.setdefault(t.order.permId or (t.order.clientId, t.order.orderId), t)
        return sorted(seen.values(), key=lambda t: (t.order.permId or 1 << 62, t.order.orderId))

    async def after_reconnect(self) -> None:
        trades = await self.snapshot()
        self._rebind([*trades, *self._conn.ib.trades()])
        for ref in [r for r in self.unresolved if r not in self.busy]:
            sent = self.unresolved[ref]
            try:
                legs = await self.settle(sent, trades)    # anything else (dropped again): kept for the next time
            except NotPlaced as e:
                del self.unresolved[ref]
                log.warning("%s", e)
            else:
                del self.unresolved[ref]
                log.warning("%s (%s) reached TWS before the connection dropped: orders %s are live or filled",
                            sent.what, ref, [t.order.orderId or t.order.permId for t in legs])

    def _rebind(self, trades: list[Trade]) -> None:
        index: dict[Any, Trade] = {}
        for t in trades:
            if t.order.orderId:
                index[(t.order.clientId, t.order.orderId)] = t
            if t.order.permId:
                index.setdefault(t.order.permId, t)
        for v in list(self._views):
            t = index.get((v.client_id, v.order_id)) or (index.get(v.perm_id) if v.perm_id else None)
            if t is not None:
                v._rebind(t)

    async def settle(self, sent: Sent, trades: list[Trade] | None = None) -> list[Trade]:
        """The placement's legs as TWS has them (``trades``: a ``snapshot()``, taken now when None): every leg
        live, or the placement traded -> its orders; otherwise cancel each leg that arrived and raise NotPlaced."""
        if trades is None:
            trades = await self.snapshot()
        me = self._conn.client_id
        live = {t.order.orderId: t for t in trades
                if t.order.clientId == me and t.order.orderId in sent.ids and t.order.orderRef == sent.ref
                and not is_dead(t)}
        if len(live) == len(sent.ids):
            return [live[i] for i in sent.ids]
        if self.traded(sent.ref):     # it traded meanwhile (legs done): TWS's orders with the key
            mine = [t for t in self.with_ref(sent.ref, trades) if not is_dead(t) or t.order.parentId]
            return mine[-len(sent.ids):]
        arrived = await self._cancel(sent.orders)
        if not arrived:
            raise NotPlaced(f"{sent.what} ({sent.ref}) was NOT placed ({sent.cause}): TWS never received it (checked "
                            f"its open and completed orders and executions); placing it again is safe")
        n, total = len(arrived), len(sent.ids)
        raise NotPlaced(f"{sent.what} ({sent.ref}) was NOT placed ({sent.cause}): {n} of its {total} orders reached "
                        f"TWS (#{', #'.join(map(str, arrived))}, held, never live) and "
                        f"{'was' if n == 1 else 'were'} cancelled; nothing of it is live, placing it again is safe")

    async def _cancel(self, orders: list[Order]) -> list[int]:
        """Cancel each order by id; the ids TWS had (answered 202 cancelled or 10148 already done, not 10147)."""
        ib = self._conn.ib
        ids = [o.orderId for o in orders]
        answers: dict[int, int] = {}
        all_in = asyncio.get_running_loop().create_future()

        def on_error(req_id, code, msg, contract) -> None:
            if req_id in ids and code in (CANCELLED, NOT_FOUND, ALREADY_DONE):
                answers.setdefault(req_id, code)
                if len(answers) == len(ids) and not all_in.done():
                    all_in.set_result(None)

        ib.errorEvent += on_error
        try:
            for o in orders:
                ib.cancelOrder(o)
            await self._conn.timed(all_in, "order cancel")
        finally:
            ib.errorEvent -= on_error
        return [i for i in ids if answers[i] != NOT_FOUND]


__all__ = ["NotPlaced", "Reconciler", "Sent", "is_dead"]
