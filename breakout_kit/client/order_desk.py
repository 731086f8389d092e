"""Orders for ``IBClient``: brackets and plain orders, exactly once; cancelling; open orders, trades, executions.

Every order carries an idempotency key in ``orderRef`` (``order_ref=``, or ``bk-<8 hex>``). A placing call answers
only with the truth:

- TWS acknowledged every leg -> the orders (live views);
- the key is already live or filled at TWS -> that placement, nothing is sent;
- refused before sending, rejected by TWS, or lost in transit and verified after the reconnect -> ``OrderRejected``
  saying nothing is live (legs of a cut bracket that did arrive are cancelled first, and named);
- sent, then disconnected and still not back -> ``OrderStateUnknown`` (may be live), saying what to check; the
  placement is settled after the reconnect anyway (``reconcile.Reconciler``), so nothing stays orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

import pandas as pd

from breakout_kit.client import order_checks as checks
from breakout_kit.client.contracts import Contracts, round_to_tick
from breakout_kit.client.errors import ContractError, OrderNotSent, OrderRejected, OrderStateUnknown
from breakout_kit.client.iblib import IB, Contract, LimitOrder, MarketOrder, Order, StopOrder, Trade
from breakout_kit.client.marketdata import MarketData
from breakout_kit.client.orders import Bracket, PlacedOrder, new_order_ref, orders_frame
from breakout_kit.client.reconcile import NotPlaced, Reconciler, Sent, is_dead
from breakout_kit.client.supervisor import Supervisor

log = logging.getLogger("breakout_kit.client.ib_client")

#: sends one order: ``transport(ib, contract, order) -> Trade``, or None when the order never left (a test seam)
Transport = Callable[[IB, Contract, Order], "Trade | None"]
#: real seconds a placing call whose acknowledgement was lost waits for the reconnect before "state unknown"
RECONNECT_WAIT = 30.0


def place(ib: IB, contract: Contract, order: Order) -> Trade:
    """The production transport: the client library's ``placeOrder``."""
    return ib.placeOrder(contract, order)


class OrderDesk:
    """Places, tracks and cancels the orders of one supervised connection, within the client's safety limits."""

    def __init__(self, conn: Supervisor, contracts: Contracts, market: MarketData, *, max_quantity: int,
                 max_notional: float, transport: Transport | None = None) -> None:
        self._conn = conn
        self._contracts = contracts
        self._market = market
        self.max_quantity = max_quantity
        self.max_notional = max_notional
        self.transport: Transport = transport or place
        self.reconnect_wait = RECONNECT_WAIT
        self._rec = Reconciler(conn)
        self.fill_event = self._rec.fill_event

    # ---- placing -------------------------------------------------------------------------------------------
    async def place_bracket(self, symbol: str, quantity: int, take_profit_pct: float, stop_loss_pct: float, *,
                            entry: str | float = "market", order_ref: str | None = None,
                            tif: str = "DAY", force: bool = False) -> Bracket:
        """See ``IBClient.place_buy_bracket_pct_async``."""
        quantity, order_ref = self._check(quantity), checks.order_ref(order_ref)
        tp_pct, sl_pct = checks.pct(take_profit_pct, "take_profit_pct"), checks.pct(stop_loss_pct, "stop_loss_pct")
        contract = await self._order_contract(symbol, tif)
        if order_ref and (existing := await self._existing(order_ref, 3)):
            log.info("bracket %s already placed; not sending it again", order_ref)
            return Bracket(*map(self._rec.view, existing))
        tick = await self._contracts.min_tick(contract)
        limit = None if entry == "market" else round_to_tick(checks.entry_price(entry), tick)
        ref = await self._market.reference_price(contract) if limit is None else limit
        tp = round_to_tick(ref * (1 + tp_pct / 100), tick)
        sl = round_to_tick(ref * (1 - sl_pct / 100), tick)
        if not sl < ref < tp:
            raise OrderRejected(f"take-profit {tp} / stop-loss {sl} must straddle the reference price {ref} "
                                f"(tick {tick}): percentages too small")
        checks.size(contract, quantity, ref, self.max_notional, force)
        order_ref = order_ref or new_order_ref()
        get_id = self._conn.ib.client.getReqId
        parent = (MarketOrder("BUY", quantity) if limit is None else LimitOrder("BUY", quantity, limit))
        parent.orderId = get_id()
        take_profit = LimitOrder("SELL", quantity, tp, orderId=get_id(), parentId=parent.orderId)
        stop_loss = StopOrder("SELL", quantity, sl, orderId=get_id(), parentId=parent.orderId)
        for order, transmit in ((parent, False), (take_profit, False), (stop_loss, True)):
            order.transmit = transmit          # nothing is live until the last child arrives
            order.orderRef = order_ref
            order.tif = tif
        what = f"bracket BUY {quantity} {contract.symbol}"
        trades = await self._send(Sent(order_ref, [parent, take_profit, stop_loss], what), contract)
        log.info("bracket %s: BUY %d %s ref %.4f tp %.4f sl %.4f", order_ref, quantity, contract.symbol, ref, tp, sl)
        return Bracket(*map(self._rec.view, trades))

    async def place_order(self, symbol: str, action: str, quantity: int, *, limit: float | None = None,
                          order_ref: str | None = None, tif: str = "DAY", force: bool = False) -> PlacedOrder:
        """See ``IBClient.place_order_async``."""
        if action not in ("BUY", "SELL"):
            self._check(1)
            raise OrderRejected(f"action must be BUY or SELL, got {action!r}")
        quantity, order_ref = self._check(quantity), checks.order_ref(order_ref)
        contract = await self._order_contract(symbol, tif)
        if order_ref and (existing := await self._existing(order_ref, 1)):
            log.info("order %s already placed; not sending it again", order_ref)
            return self._rec.view(existing[0])
        if limit is None:
            order = MarketOrder(action, quantity)
            price = await self._market.reference_price(contract)
        else:
            if not (isinstance(limit, int | float) and math.isfinite(limit) and limit > 0):
                raise OrderRejected(f"limit price must be positive, got {limit!r}")
            price = round_to_tick(float(limit), await self._contracts.min_tick(contract))
            order = LimitOrder(action, quantity, price)
        checks.size(contract, quantity, price, self.max_notional, force)
        order.orderId = self._conn.ib.client.getReqId()
        order.orderRef = order_ref or new_order_ref()
        order.tif = tif
        [trade] = await self._send(Sent(order.orderRef, [order], f"order {action} {quantity} {contract.symbol}"),
                                   contract)
        log.info("order %s: %s %d %s", order.orderRef, action, quantity, contract.symbol)
        return self._rec.view(trade)

    def _check(self, quantity: object) -> int:
        """Trading allowed on this connection and account, and ``quantity`` within limits."""
        checks.check_trading(self._conn.settings)
        self._conn.require_connection()
        checks.check_account(self._conn.settings, self._conn.account)
        return checks.quantity(quantity, self.max_quantity)

    async def _order_contract(self, symbol: str, tif: str) -> Contract:
        """The qualified contract for an order with time in force ``tif``; OrderRejected (nothing sent) otherwise."""
        if tif not in ("DAY", "GTC"):
            raise OrderRejected(f"tif must be DAY or GTC, got {tif!r}")
        try:
            return await self._contracts.qualify(symbol)
        except ContractError as e:
            raise OrderRejected(str(e)) from None

    async def _existing(self, ref: str, legs: int) -> list[Trade] | None:
        """The ``legs`` orders of an earlier placement with key ``ref`` when it is live or filled at TWS, else None
        (legs of a cut placement found on the way are cancelled: a fresh one is placed)."""
        rec = self._rec
        sent = rec.unresolved.get(ref)
        if sent is not None:                   # an earlier call gave up while disconnected: settle it now
            rec.busy.add(ref)
            try:
                settled: list[Trade] | None = await rec.settle(sent)
            except NotPlaced as e:
                log.warning("%s", e)
                settled = None
            finally:
                rec.busy.discard(ref)
            rec.unresolved.pop(ref, None)      # (kept if settling failed: the next reconnect tries again)
            return settled
        found = rec.with_ref(ref)
        if not any(not is_dead(t) for t in found):        # not known alive here: ask TWS (another process?)
            found = rec.with_ref(ref, await rec.snapshot(executions=False))
        if not any(not is_dead(t) for t in found):
            return None
        if len(found) >= legs:
            return found[-legs:]
        orphans = [t.order for t in found if not is_dead(t)]
        with contextlib.suppress(NotPlaced):
            await rec.settle(Sent(ref, orphans, f"{len(orphans)} orphaned order(s)"), [])
        log.warning("order_ref %s: cancelled %d orphaned order(s) %s", ref, len(orphans),
                    [o.orderId for o in orphans])
        return None

    async def _send(self, sent: Sent, contract: Contract) -> list[Trade]:
        """Send the legs; answer with the truth (module doc)."""
        rec, conn = self._rec, self._conn
        rec.busy.add(sent.ref)
        try:
            trades = [self.transport(conn.ib, contract, o) for o in sent.orders]
            if await self._acknowledged(trades):
                return trades
            dropped = not conn.connected
            sent.cause = (f"the connection to {conn.host}:{conn.port} dropped while sending it" if dropped
                          else f"TWS did not acknowledge it within {conn.timeout:g} s")
            for _ in range(3):             # a drop while checking: check again after it
                if not conn.connected and not await conn.wait_connected(self.reconnect_wait):
                    break
                try:
                    return await rec.settle(sent)
                except NotPlaced as e:
                    raise (OrderNotSent if dropped else OrderRejected)(str(e)) from None
                except ConnectionError:        # dropped again while checking
                    continue
            rec.unresolved[sent.ref] = sent
            ids = ", #".join(map(str, sent.ids))
            raise OrderStateUnknown(
                f"{sent.what} ({sent.ref}, orders #{ids}) was sent, but the connection to {conn.host}:{conn.port} "
                f"dropped before TWS acknowledged it and is still down: it may be live. When connected, check the "
                f"open orders (CLI: orders; await client.open_orders()) for order_ref {sent.ref}, or place it again "
                f"with order_ref={sent.ref!r}: that sends nothing if it reached TWS (it is settled at the reconnect)")
        finally:
            rec.busy.discard(sent.ref)

    async def _acknowledged(self, trades: list[Trade | None]) -> bool:
        """True once TWS has taken every leg; OrderRejected if it refused one; False if the connection dropped or
        TWS stayed silent for ``timeout`` (then the caller asks TWS what it has). None: a leg that never left."""
        ib = self._conn.ib
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._conn.timeout
        while any(t is None or t.orderStatus.status in ("PendingSubmit", "") for t in trades):
            if any(t is not None and checks.refused(t) for t in trades):
                break
            left = deadline - loop.time()
            if left <= 0 or not self._conn.connected:
                return False
            woke = loop.create_future()

            def wake(*_, woke: asyncio.Future = woke) -> None:
                if not woke.done():
                    woke.set_result(None)

            ib.updateEvent += wake          # every processed message
            ib.disconnectedEvent += wake
            try:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(woke, left)
            finally:
                ib.updateEvent -= wake
                ib.disconnectedEvent -= wake
        checks.raise_if_refused([t for t in trades if t is not None])
        return True

    # ---- cancelling ----------------------------------------------------------------------------------------
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
        return self._rec.view(trade)

    async def cancel_all_orders(self) -> int:
        """Cancel every open order of the account (``reqGlobalCancel``); returns how many were open."""
        if self._conn.readonly:
            raise OrderRejected("this connection is read-only: cannot cancel orders")
        self._conn.require_connection()
        open_trades = await self._rec.open_trades()
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

    # ---- views ---------------------------------------------------------------------------------------------
    async def open_orders(self) -> pd.DataFrame:
        """Open orders of the whole account (all clients) as a DataFrame."""
        self._conn.require_connection()
        trades = await self._rec.open_trades()
        return orders_frame([PlacedOrder(t) for t in trades])

    def trades(self) -> list[PlacedOrder]:
        """Every order this connection has seen this session (open and done), oldest first."""
        return [self._rec.view(t) for t in self._conn.ib.trades()]

    def executions(self) -> pd.DataFrame:
        """This session's fills, each execId once (time, symbol, side, shares, price, order_id, order_ref, exec_id)."""
        return self._rec.executions()


__all__ = ["RECONNECT_WAIT", "OrderDesk", "Transport", "place"]
