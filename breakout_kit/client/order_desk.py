"""Orders for ``IBClient``: brackets and plain orders (checked before sending, acknowledged by TWS before the call
returns), cancelling, and the open orders, trades and executions of the session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid

import pandas as pd

from breakout_kit.client import limits
from breakout_kit.client.config import mask_account
from breakout_kit.client.contracts import Contracts, round_to_tick
from breakout_kit.client.errors import ContractError, OrderRejected
from breakout_kit.client.iblib import Contract, Event, LimitOrder, MarketOrder, StopOrder, Trade
from breakout_kit.client.marketdata import MarketData
from breakout_kit.client.orders import Bracket, PlacedOrder, orders_frame
from breakout_kit.client.realtime import Execution
from breakout_kit.client.supervisor import Supervisor

log = logging.getLogger("breakout_kit.client.ib_client")


def _pct(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OrderRejected(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and 0 < v < 100):
        raise OrderRejected(f"{name} must be between 0 and 100 (exclusive), got {value!r}")
    return v


class OrderDesk:
    """Places, tracks and cancels the orders of one supervised connection, within the client's safety limits."""

    def __init__(self, conn: Supervisor, contracts: Contracts, market: MarketData, *, max_quantity: int,
                 max_notional: float) -> None:
        self._conn = conn
        self._settings = conn.settings
        self._contracts = contracts
        self._market = market
        self.max_quantity = max_quantity
        self.max_notional = max_notional
        #: emits an ``Execution`` for every fill on this connection as it happens
        self.fill_event = Event("fill")
        conn.ib.execDetailsEvent += lambda trade, fill: self.fill_event.emit(Execution.from_fill(fill))

    @property
    def _paper(self) -> bool:
        return self._conn.account.startswith("DU")

    def _check_can_trade(self) -> None:
        if not self._settings.trading:
            raise OrderRejected("trading is disabled: connect with IBClient(..., trading=True) to place orders "
                                "(paper accounts only unless allow_live=True)")
        if self._conn.readonly:
            raise OrderRejected("this connection is read-only: create the client with readonly=False to trade")
        self._conn.require_connection()
        if not self._paper and not self._settings.allow_live:
            raise OrderRejected(f"account {mask_account(self._conn.account)} is not a paper (DU...) account: live "
                                f"trading needs IBClient(..., allow_live=True)")

    def _bracket_for(self, order_ref: str) -> list[Trade]:
        trades = [t for t in self._conn.ib.trades() if t.order.orderRef == order_ref]
        return sorted(trades, key=lambda t: t.order.orderId)

    async def place_bracket(self, symbol: str, quantity: int, take_profit_pct: float,
                                          stop_loss_pct: float, *, entry: str | float = "market",
                                          order_ref: str | None = None, tif: str = "DAY") -> Bracket:
        """Buy ``quantity`` with a take-profit ``take_profit_pct`` % above and a stop-loss ``stop_loss_pct`` % below
        the reference price (the limit price, or the last trade for a market entry). Returns
        a ``Bracket`` (parent, take_profit, stop_loss; live views of the three orders). Same ``order_ref`` again
        returns the existing bracket.

        Raises ``OrderRejected`` (nothing sent) when trading is off, limits are exceeded or the numbers make no sense,
        and ``OrderRejected`` with TWS's message if TWS rejects it.
        """
        self._check_can_trade()
        quantity = self._check_quantity(quantity)
        tp_pct, sl_pct = _pct(take_profit_pct, "take_profit_pct"), _pct(stop_loss_pct, "stop_loss_pct")
        contract = await self._order_contract(symbol, tif)
        if order_ref and len(existing := self._bracket_for(order_ref)) == 3:
            log.info("bracket %s already placed; not sending it again", order_ref)
            return Bracket(*map(PlacedOrder, existing))
        tick = await self._contracts.min_tick(contract)
        if entry == "market":
            ref = await self._market.reference_price(contract)
            limit = None
        else:
            try:
                limit = float(entry)
            except (TypeError, ValueError):
                raise OrderRejected(f"entry must be 'market' or a limit price, got {entry!r}") from None
            if not (math.isfinite(limit) and limit > 0):
                raise OrderRejected(f"limit price must be positive, got {entry!r}")
            limit = ref = round_to_tick(limit, tick)
        tp = round_to_tick(ref * (1 + tp_pct / 100), tick)
        sl = round_to_tick(ref * (1 - sl_pct / 100), tick)
        if not sl < ref < tp:
            raise OrderRejected(f"take-profit {tp} / stop-loss {sl} must straddle the reference price {ref} "
                                f"(tick {tick}): percentages too small")
        self._check_notional(quantity, ref)
        order_ref = order_ref or f"bk-{uuid.uuid4().hex[:8]}"
        get_id = self._conn.ib.client.getReqId
        parent = (MarketOrder("BUY", quantity) if limit is None else LimitOrder("BUY", quantity, limit))
        parent.orderId = get_id()
        take_profit = LimitOrder("SELL", quantity, tp, orderId=get_id(), parentId=parent.orderId)
        stop_loss = StopOrder("SELL", quantity, sl, orderId=get_id(), parentId=parent.orderId)
        for order, transmit in ((parent, False), (take_profit, False), (stop_loss, True)):
            order.transmit = transmit          # nothing is live until the last child arrives
            order.orderRef = order_ref
            order.tif = tif
        trades = [self._conn.ib.placeOrder(contract, o) for o in (parent, take_profit, stop_loss)]
        await self._await_acknowledged(trades)
        log.info("bracket %s: BUY %d %s ref %.4f tp %.4f sl %.4f", order_ref, quantity, contract.symbol, ref, tp, sl)
        return Bracket(*map(PlacedOrder, trades))

    def _check_quantity(self, quantity: object) -> int:
        try:
            return limits.check_quantity(quantity, self.max_quantity)
        except limits.LimitError as e:
            raise OrderRejected(str(e)) from None

    async def _order_contract(self, symbol: str, tif: str) -> Contract:
        """The qualified contract for an order with time in force ``tif``; OrderRejected (nothing sent) otherwise."""
        if tif not in ("DAY", "GTC"):
            raise OrderRejected(f"tif must be DAY or GTC, got {tif!r}")
        try:
            return await self._contracts.qualify(symbol)
        except ContractError as e:
            raise OrderRejected(str(e)) from None

    def _check_notional(self, quantity: int, price: float) -> None:
        try:
            limits.check_notional(quantity, price, self.max_notional)
        except limits.LimitError as e:
            raise OrderRejected(str(e)) from None

    async def place_order(self, symbol: str, action: str, quantity: int, *, limit: float | None = None,
                                order_ref: str | None = None, tif: str = "DAY") -> PlacedOrder:
        """One plain order: ``action`` "BUY" or "SELL" ``quantity`` shares at market, or at ``limit``.

        The same safety checks as brackets (trading enabled, paper account, quantity and value limits); the CLI's
        ``sell`` and ``flatten`` use it to close positions. Returns a live view of the order once TWS has taken it.
        """
        self._check_can_trade()
        if action not in ("BUY", "SELL"):
            raise OrderRejected(f"action must be BUY or SELL, got {action!r}")
        quantity = self._check_quantity(quantity)
        contract = await self._order_contract(symbol, tif)
        if limit is None:
            order = MarketOrder(action, quantity)
            price = await self._market.reference_price(contract)
        else:
            if not (isinstance(limit, int | float) and math.isfinite(limit) and limit > 0):
                raise OrderRejected(f"limit price must be positive, got {limit!r}")
            price = round_to_tick(float(limit), await self._contracts.min_tick(contract))
            order = LimitOrder(action, quantity, price)
        self._check_notional(quantity, price)
        order.orderId = self._conn.ib.client.getReqId()
        order.orderRef = order_ref or f"bk-{uuid.uuid4().hex[:8]}"
        order.tif = tif
        trade = self._conn.ib.placeOrder(contract, order)
        await self._await_acknowledged([trade])
        log.info("order %s: %s %d %s", order.orderRef, action, quantity, contract.symbol)
        return PlacedOrder(trade)

    @staticmethod
    def _refused(trade: Trade) -> bool:
        """TWS refused the order. ib_insync cancels a trade on an order error; ib_async takes some (321, and
        110 on a live order) as warnings and sets status ValidationError: a refusal if TWS never took the order."""
        status = trade.orderStatus.status
        if status in ("Cancelled", "Inactive", "ApiCancelled"):
            return True
        never_taken = all(e.status in ("PendingSubmit", "ValidationError") for e in trade.log)
        return status == "ValidationError" and never_taken

    async def _await_acknowledged(self, trades: list[Trade]) -> None:
        """Wait until TWS has taken (or rejected) every order of a bracket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._conn.timeout
        while any(t.orderStatus.status in ("PendingSubmit", "") for t in trades):
            rejected = [t for t in trades if self._refused(t)]
            if rejected:
                break
            left = deadline - loop.time()
            if left <= 0:
                raise OrderRejected("no acknowledgement from TWS for the bracket within "
                                    f"{self._conn.timeout:g} s (order ids {[t.order.orderId for t in trades]})")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._conn.ib.updateEvent, left)   # wakes on every processed message
        for t in trades:
            if self._refused(t) and not t.filled():
                reasons = [e.message for e in t.log if e.errorCode]
                reason = reasons[-1] if reasons else t.orderStatus.status
                if "read-only" in reason.lower():
                    raise OrderRejected(f"TWS refused order {t.order.orderId}: its API is in read-only mode; untick "
                                        f"'Read-Only API' in TWS Global Configuration > API > Settings (IB Gateway: "
                                        f"Configure > Settings > API > Settings)")
                raise OrderRejected(f"TWS rejected order {t.order.orderId}: {reason}")

    def _open_trade(self, order_id: int) -> Trade:
        for t in self._conn.ib.openTrades():
            if t.order.orderId == order_id or t.order.permId == order_id:
                return t
        raise OrderRejected(f"no open order with id {order_id}")

    async def cancel_order(self, order_id: int) -> PlacedOrder:
        """Cancel one open order by orderId (or permId); waits for TWS to confirm."""
        if self._conn.readonly:
            raise OrderRejected("this connection is read-only: cannot cancel orders")
        self._conn.require_connection()
        trade = self._open_trade(int(order_id))
        self._conn.ib.cancelOrder(trade.order)
        await self._await_done([trade])
        return PlacedOrder(trade)

    async def cancel_all_orders(self) -> int:
        """Cancel every open order of the account (``reqGlobalCancel``); returns how many were open."""
        if self._conn.readonly:
            raise OrderRejected("this connection is read-only: cannot cancel orders")
        self._conn.require_connection()
        open_trades = await self._conn.timed(self._conn.ib.reqAllOpenOrdersAsync(), "open orders")
        self._conn.ib.reqGlobalCancel()
        # TWS reports each order's status only to the client that placed it: await our own
        mine = self._conn.ib.client.clientId
        await self._await_done([t for t in open_trades if not t.isDone() and t.order.clientId == mine])
        return len(open_trades)

    async def _await_done(self, trades: list[Trade]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._conn.timeout
        while not all(t.isDone() for t in trades):
            left = deadline - loop.time()
            if left <= 0:
                pending = [t.order.orderId for t in trades if not t.isDone()]
                raise OrderRejected(f"TWS did not confirm cancelling orders {pending} within {self._conn.timeout:g} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._conn.ib.updateEvent, left)

    async def open_orders(self) -> pd.DataFrame:
        """Open orders of the whole account (all clients) as a DataFrame."""
        self._conn.require_connection()
        trades = await self._conn.timed(self._conn.ib.reqAllOpenOrdersAsync(), "open orders")
        return orders_frame([PlacedOrder(t) for t in trades])

    def trades(self) -> list[PlacedOrder]:
        """Every order this connection has seen this session (open and done), oldest first."""
        return [PlacedOrder(t) for t in self._conn.ib.trades()]

    def executions(self) -> pd.DataFrame:
        """This session's fills as a DataFrame (time, symbol, side, shares, price, order_id, order_ref, exec_id)."""
        rows = [Execution.from_fill(f) for f in self._conn.ib.fills()]
        return pd.DataFrame(rows, columns=list(Execution.__dataclass_fields__))


__all__ = ["OrderDesk"]
