"""Orders as breakout_kit shows them: live views over the IB library's trades, so callers never touch its objects."""

from __future__ import annotations

import math
import uuid
from typing import Any, NamedTuple

import pandas as pd

from breakout_kit.client.symbols import display_symbol

ORDER_COLUMNS = ["order_id", "perm_id", "client_id", "symbol", "action", "type", "quantity", "limit", "stop",
                 "status", "filled", "parent_id", "order_ref", "tif"]


def price_or_nan(p: Any) -> float:
    """IB sends 'unset' prices as None or as the max double: NaN for both."""
    return float(p) if p is not None and math.isfinite(p) and abs(p) < 1e300 else math.nan


def new_order_ref(prefix: str = "bk") -> str:
    """A fresh idempotency key for ``orderRef``, e.g. ``bk-1a2b3c4d``: placing again with it sends nothing twice."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class PlacedOrder:
    """One order sent to TWS. Fields read the live state (``status`` and ``filled`` change as TWS reports), also
    after a reconnect: the client re-points the view at the order as TWS reports it then."""

    __slots__ = ("__weakref__", "_trade")

    def __init__(self, trade: Any) -> None:
        self._trade = trade

    def _rebind(self, trade: Any) -> None:
        """Read ``trade`` from now on (the same order, as reported on a new connection)."""
        self._trade = trade

    order_id = property(lambda self: self._trade.order.orderId)
    perm_id = property(lambda self: self._trade.order.permId)
    client_id = property(lambda self: self._trade.order.clientId)
    symbol = property(lambda self: display_symbol(self._trade.contract))
    action = property(lambda self: self._trade.order.action)
    type = property(lambda self: self._trade.order.orderType)
    quantity = property(lambda self: int(self._trade.order.totalQuantity))
    limit = property(lambda self: price_or_nan(self._trade.order.lmtPrice))
    stop = property(lambda self: price_or_nan(self._trade.order.auxPrice))
    status = property(lambda self: self._trade.orderStatus.status)
    @property
    def filled(self) -> int:
        """Shares filled. A completed order re-read after a reconnect may carry its fills only in
        ``filledQuantity`` (ib_async leaves ``orderStatus.filled`` at 0 there), or in the trade's fills."""
        t = self._trade
        quantity = t.order.filledQuantity
        known = quantity if isinstance(quantity, (int, float)) and 0 < quantity < 1e300 else 0
        return int(max(t.orderStatus.filled or 0, known, sum(f.execution.shares for f in t.fills)))
    parent_id = property(lambda self: self._trade.order.parentId)
    order_ref = property(lambda self: self._trade.order.orderRef)
    tif = property(lambda self: self._trade.order.tif)

    @property
    def done(self) -> bool:
        """Filled, cancelled or refused: TWS will not work it any more."""
        return bool(self._trade.isDone())

    @property
    def price(self) -> float:
        """The order's own price: the limit for LMT, the stop for STP, NaN for MKT."""
        if self.type.startswith("LMT"):
            return self.limit
        return self.stop if self.type.startswith("STP") else math.nan

    def row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in ORDER_COLUMNS}

    def __repr__(self) -> str:
        px = "" if math.isnan(self.price) else f" {self.price:g}"
        return f"<order #{self.order_id} {self.symbol} {self.action} {self.quantity} {self.type}{px} {self.status}>"


class Bracket(NamedTuple):
    """A bracket's three orders: ``parent`` (the entry), ``take_profit`` and ``stop_loss``."""

    parent: PlacedOrder
    take_profit: PlacedOrder
    stop_loss: PlacedOrder

    @property
    def order_ref(self) -> str:
        return self.parent.order_ref

    def frame(self) -> pd.DataFrame:
        """The three legs as a DataFrame (leg, order_id, action, type, quantity, limit, stop, status, filled)."""
        rows = [{"leg": leg, **order.row()} for leg, order in zip(self._fields, self)]
        return pd.DataFrame(rows, columns=["leg", *ORDER_COLUMNS])


def orders_frame(orders: list[PlacedOrder]) -> pd.DataFrame:
    return pd.DataFrame([o.row() for o in orders], columns=ORDER_COLUMNS)


__all__ = ["ORDER_COLUMNS", "Bracket", "PlacedOrder", "new_order_ref", "orders_frame", "price_or_nan"]
