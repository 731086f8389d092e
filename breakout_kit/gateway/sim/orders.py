"""The gateway's order book: placeOrder / cancel / global cancel, brackets, OCA groups, fills and executions.

Requests (handlers in wire/order_requests.py; incoming id -> replies):
  3 placeOrder -> 5 openOrder + 3 orderStatus (then 11 execDetails + 59 commissionReport per fill); what-if
    orders -> 5 openOrder with the OrderState's commission and margins; rejections -> 4 error
    (200/321 contract, 110 tick, 321 fields or read-only API, 103 duplicate id, 387 order type, 201 margin)
  4 cancelOrder -> 3 orderStatus Cancelled + 4 error 202 (10147 unknown id, 10148 already done)
  58 reqGlobalCancel -> the same for every open order of every client
  5 reqOpenOrders / 16 reqAllOpenOrders -> 5 openOrder + 3 orderStatus each, then 53 openOrderEnd
  15 reqAutoOpenOrders (accepted), 99 reqCompletedOrders -> 101 completedOrder each, then 102
  7 reqExecutions(filter) -> 11 execDetails + 59 commissionReport each, then 55 execDetailsEnd

The book lives on the gateway (``gw.orders``), keyed by (clientId, orderId), so a client that reconnects with the
same clientId sees its orders and executions. Updates go to the owning client's live session, if any.

Brackets as TWS: orders sent with ``transmit=False`` are held (nothing is sent back, nothing works) until an order
of the same family arrives with ``transmit=True``; then the parent and all its held children go live together.
Children wait (PreSubmitted) until the parent has a fill, then work for the shares it filled (a partially filled
parent is protected, never overshot); children of one parent form an implicit OCA group with reduce-on-fill, so
when one fills the other is cancelled. Cancelling an unfilled parent cancels its children.

Fills happen at 5-second boundaries of the gateway clock against the bar that just completed (fills.py rules),
driven by one task per gateway that only runs while something is working or streaming. DAY orders expire at
16:00 New York (20:00 with outsideRth); orders without outsideRth only work in regular hours (PreSubmitted outside).
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from . import fills
from .clock import NEW_YORK
from .clock_task import ClockTask
from .contracts import NO_SECDEF, NOT_TRADABLE, TIME_ZONE_ID, Instrument, resolve
from .journal import durably
from .market import BAR, grid, session_grid
from .order_checks import check_fields
from .order_messages import (
    commission_report_fields,
    exec_details_fields,
    open_order_fields,
    order_status_fields,
)
from .order_model import (
    ERR_CANCELLED,
    ERR_DUPLICATE,
    ERR_ORDER_TYPE,
    ERR_READONLY,
    ORDER_TYPES,
    SEC_TYPES,
    TIFS,
    Execution,
    Order,
    Rejected,
    check_tick,
    invalid,
    price_cents,
)
from .outbound import Client
from .portfolio import INITIAL_CASH, MARGIN_RATE, REFRESH_SECONDS, Portfolio

if TYPE_CHECKING:
    from ..server import PaperGateway

log = logging.getLogger("breakout_kit.gateway")
FIRST_PERM_ID = 1_001_000_001
MAX_CATCHUP = 720          # boundaries replayed after a stall (one simulated hour); older ones are skipped
MAX_BATCH = 64


class OrderBook(ClockTask):
    """All orders, executions and the paper account of one gateway (``gw.orders``), with the task that works
    live orders at each 5-second boundary."""

    task_name = "paper-gateway-orders"

    def __init__(self, gw: PaperGateway, readonly_api: bool = False, cash: float = INITIAL_CASH) -> None:
        if not isinstance(readonly_api, bool):
            raise TypeError(f"readonly_api must be True or False, got {readonly_api!r}")
        self.gw = gw
        self.readonly_api = readonly_api
        self.portfolio = Portfolio(gw, cash)
        self.orders: dict[tuple[int, int], Order] = {}
        self._pending: list[Order] = []       # orders not done yet (held or live), in placement order
        self.executions: list[Execution] = []
        self.exec_seq = 0                     # execIds handed out (never re-used: persisted with the state)
        self.max_order_id: dict[int, int] = {}
        self.volume_share = fills.VOLUME_SHARE
        self.commission_per_share = fills.COMMISSION_PER_SHARE
        self.min_commission = fills.MIN_COMMISSION
        self._next_perm = FIRST_PERM_ID
        super().__init__()
        self._last_boundary: int | None = None
        self._last_refresh: int | None = None
        self.ticks = 0

    # ---- queries (tests, notebooks) --------------------------------------------------------------------------
    def __iter__(self):
        """Every order the gateway knows (held, live and done), in placement order."""
        return iter(sorted(self.orders.values(), key=lambda o: o.perm_id))

    def __len__(self) -> int:
        return len(self.orders)

    def open_orders(self) -> list[Order]:
        self._pending = [o for o in self._pending if not o.done]
        return [o for o in self._pending if o.live]

    def get(self, client_id: int, order_id: int) -> Order | None:
        return self.orders.get((client_id, order_id))

    # ---- output ------------------------------------------------------------------------------------------------
    def _owner(self, order: Order) -> Client | None:
        s = self.gw.session_for(order.client_id)
        return s if s is not None and not s.closed else None

    def _send_order(self, order: Order, open_order: bool = True) -> None:
        s = self._owner(order)
        if s is not None:
            if open_order:
                s.send(*open_order_fields(order))
            s.send(*order_status_fields(order))

    # ---- placing -------------------------------------------------------------------------------------------------
    def place(self, session: Client, order_id: int, spec, raw: dict) -> None:
        """Handle one decoded placeOrder message (wire/order_codec.py decodes it)."""
        client_id = session.client_id
        assert client_id is not None
        try:
            check_fields(raw)          # nothing is stored that a client could not decode
            if self.readonly_api:
                raise Rejected(321, ERR_READONLY)
            existing = self.orders.get((client_id, order_id))
            if raw.get("whatIf") == "1":
                self._what_if(session, order_id, spec, raw)
                return
            if existing is not None:
                self._modify(existing, spec, raw)
                return
            if order_id <= 0 or order_id <= self.max_order_id.get(client_id, 0):
                raise Rejected(103, ERR_DUPLICATE)
            order = self._build(client_id, order_id, spec, raw)
        except Rejected as e:
            session.error(order_id, e.code, e.message)
            return
        finally:
            if order_id > 0:
                self.max_order_id[client_id] = max(self.max_order_id.get(client_id, 0), order_id)
                self.gw.next_order_id = max(self.gw.next_order_id, order_id + 1)
        self.orders[(client_id, order_id)] = order
        self._pending.append(order)
        parent = self.orders.get((client_id, order.parent_id)) if order.parent_id else None
        if parent is not None:
            parent.children.append(order)
            order.parent_perm_id = parent.perm_id
        if raw.get("transmit", "1") != "0":
            self._transmit(parent or order)

    def _build(self, client_id: int, order_id: int, spec, raw: dict) -> Order:
        inst = self._resolve(spec)
        action, quantity, order_type, limit, stop, tif, outside_rth = self._validate(inst, raw)
        parent_id = int(raw.get("parentId") or 0)
        if parent_id:
            parent = self.orders.get((client_id, parent_id))
            if parent is None or parent.done:
                raise Rejected(321, invalid(f"Parent order {parent_id} is not an open order of this client"))
            if parent.inst is not inst:
                raise Rejected(321, invalid("A child order must be for the same contract as its parent"))
        account = raw.get("account") or self.gw.account
        if account not in self.gw.accounts:
            raise Rejected(321, invalid(f"Invalid account code {account!r}"))
        perm = self._next_perm
        self._next_perm += 1
        return Order(client_id, order_id, perm, inst, spec.exchange, account, dict(raw), action, quantity,
                     order_type, limit, stop, tif, outside_rth, parent_id, raw.get("ocaGroup", ""),
                     int(raw.get("ocaType") or 0))

    def _resolve(self, spec) -> Instrument:
        if not spec.conId and not spec.symbol:
            raise Rejected(321, invalid("Please enter a symbol or a contract id (conId)"))
        if not spec.secType and not spec.conId:
            raise Rejected(321, invalid("Please enter a valid security type"))
        if spec.secType and spec.secType not in SEC_TYPES:
            raise Rejected(321, invalid(f"Invalid security type {spec.secType!r}"))
        if not spec.exchange:
            raise Rejected(321, invalid("Missing order exchange"))
        inst = resolve(spec)
        if inst is None:
            raise Rejected(200, NO_SECDEF)
        if inst.is_index:
            raise Rejected(201, NOT_TRADABLE)
        if inst.is_forex or (inst.is_future and 100 % inst.scale):
            raise Rejected(201, "Order rejected - reason:The paper gateway trades stocks, ETFs and futures with "
                                "cent ticks only")
        return inst

    def _validate(self, inst: Instrument, raw: dict):
        action = raw.get("action", "").upper()
        if action not in ("BUY", "SELL"):
            raise Rejected(321, invalid(f"Invalid action {raw.get('action')!r}: use BUY or SELL"))
        try:
            q = float(raw.get("totalQuantity") or 0)
        except ValueError:
            q = math.nan
        if not (math.isfinite(q) and q > 0 and q == int(q)):
            raise Rejected(321, invalid(f"Invalid order quantity {raw.get('totalQuantity')!r}: "
                                         "must be a positive whole number of shares"))
        order_type = raw.get("orderType", "").upper()
        if not order_type:
            raise Rejected(321, invalid("Missing order type"))
        if order_type not in ORDER_TYPES:
            raise Rejected(387, ERR_ORDER_TYPE)
        limit = price_cents(raw.get("lmtPrice", ""), "limit price")
        stop = price_cents(raw.get("auxPrice", ""), "stop price")
        if order_type in ("LMT", "STP LMT") and limit is None:
            raise Rejected(321, invalid(f"Missing limit price for a {order_type} order"))
        if order_type in ("STP", "STP LMT") and stop is None:
            raise Rejected(321, invalid(f"Missing stop price (auxPrice) for a {order_type} order"))
        if order_type in ("MKT", "STP"):
            limit = None
        if order_type in ("MKT", "LMT"):
            stop = None
        for name, value in (("lmtPrice", limit), ("auxPrice", stop)):
            if value is not None:
                check_tick(raw[name], inst)
        tif = (raw.get("tif") or "DAY").upper()
        if tif not in TIFS:
            raise Rejected(321, invalid(f"Invalid time in force {raw.get('tif')!r}: use DAY or GTC"))
        return action, int(q), order_type, limit, stop, tif, raw.get("outsideRth") == "1"

    def _modify(self, order: Order, spec, raw: dict) -> None:
        if order.done:
            raise Rejected(104 if order.status == "Filled" else 103,
                           "Cannot modify a filled order." if order.status == "Filled" else ERR_DUPLICATE)
        inst = self._resolve(spec)
        if inst is not order.inst:
            raise Rejected(321, invalid("The contract of an order cannot be modified"))
        action, quantity, order_type, limit, stop, tif, outside_rth = self._validate(inst, raw)
        if action != order.action or order_type != order.order_type:
            raise Rejected(321, invalid("The action and order type of an order cannot be modified"))
        if quantity < order.filled:
            raise Rejected(321, invalid(f"Quantity {quantity} is below the {order.filled} already filled"))
        keep = {k: order.fields[k] for k in ("parentId",) if k in order.fields}
        order.fields = {**raw, **keep}
        order.quantity, order.limit, order.stop, order.tif, order.outside_rth = quantity, limit, stop, tif, \
            outside_rth
        if order.status == "Held":
            if raw.get("transmit", "1") != "0":
                parent = self.orders.get((order.client_id, order.parent_id)) if order.parent_id else None
                self._transmit(parent or order)
            return
        order.expires_at = self._expiry(order)
        if order.remaining == 0:
            self._complete(order, "Filled")
            self._send_order(order)
            return
        order.status = self._working_status(order, self.gw.clock.epoch())
        self._send_order(order)
        self.wake()

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    def _transmit(self, root: Order) -> None:
        """Make ``root`` and its held children live (the bracket's transmitting child arrived)."""
        now = self.gw.clock.epoch()
        family = [root] + [c for c in root.children if c.status == "Held"]
        for o in family:
            if o.status != "Held":
                continue
            if self._reject_margin(o):
                continue
            o.eligible_from = now
            o.expires_at = self._expiry(o)
            o.status = self._working_status(o, now)
            self._send_order(o)
        self.wake()

    def _reject_margin(self, o: Order) -> bool:
        """Refuse an opening order the account cannot carry: error 201 and status Inactive, as TWS does."""
        if o.parent_id:
            return False
        pos = self.portfolio.positions.get(o.inst.con_id)
        held = pos.quantity if pos else 0
        side = 1 if o.buy else -1
        if held * side >= 0 or o.quantity > abs(held):   # the order adds exposure
            need = _initial_margin(o.inst, o.quantity, self._order_price(o.inst, o.limit, o.stop))
            available = self.portfolio.values()["AvailableFunds"]
            if need > available:
                o.status = "Inactive"
                s = self._owner(o)
                if s is not None:
                    s.error(o.order_id, 201, f"Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO "
                                             f"OBTAIN THE DESIRED POSITION YOUR AVAILABLE FUNDS [{available:.2f} "
                                             f"USD] MUST EXCEED THE INITIAL MARGIN [{need:.2f} USD]")
                self._complete(o, "Inactive")
                self._send_order(o)
                for c in o.children:
                    if not c.done:
                        self._complete(c, "Inactive")
                        self._send_order(c)
                return True
        return False

    def _expiry(self, o: Order) -> float:
        if o.tif != "DAY":
            return math.inf
        since = max(o.eligible_from, self.gw.clock.epoch())
        d = datetime.fromtimestamp(since, NEW_YORK).date()
        while True:
            g = grid(o.inst, d)
            if g is not None and g.t0 + (g.end if o.outside_rth else g.rth_hi) * BAR > since:
                return g.t0 + (g.end if o.outside_rth else g.rth_hi) * BAR
            d += timedelta(days=1)      # closed, or after the close: the next session's

    def _in_hours(self, o: Order, epoch: float) -> bool:
        g = session_grid(o.inst, epoch)     # futures sessions open the evening before their date
        if g is None:
            return False
        i = (epoch - g.t0) // BAR
        whole = o.outside_rth or o.inst.is_future    # futures work the whole Globex session
        return 0 <= i < g.end if whole else g.rth_lo <= i < g.rth_hi

    def _working_status(self, o: Order, epoch: float) -> str:
        parent = self.orders.get((o.client_id, o.parent_id)) if o.parent_id else None
        if parent is not None and parent.filled == 0:
            return "PreSubmitted"
        if o.order_type in ("STP", "STP LMT") and not o.stop_triggered:
            return "PreSubmitted"
        if not self._in_hours(o, epoch):
            return "PreSubmitted"
        return "Submitted"

    def _complete(self, o: Order, status: str) -> None:
        o.status = status
        o.completed_status = status
        o.completed_time = f"{self.gw.clock.now():%Y%m%d %H:%M:%S} {TIME_ZONE_ID}"

    def cancel(self, o: Order, reason: str = "") -> None:
        """Cancel ``o`` and, for a parent with nothing filled, its children (after a partial fill they stay to
        protect the filled shares): orderStatus Cancelled + error 202 to the owner."""
        if o.done:
            return
        self._complete(o, "Cancelled")
        s = self._owner(o)
        if s is not None:
            s.send(*order_status_fields(o))
            s.error(o.order_id, 202, ERR_CANCELLED + reason)
        if o.filled == 0:
            for c in o.children:
                self.cancel(c, reason)

    def cancel_request(self, session: Client, order_id: int) -> None:
        assert session.client_id is not None
        o = self.orders.get((session.client_id, order_id))
        if o is None:
            session.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
        elif o.done:
            session.error(order_id, 10148, f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                                           f"state: {o.status}.")
        else:
            self.cancel(o)

    def global_cancel(self) -> int:
        """Cancel every open or held order of every client; returns how many."""
        todo = [o for o in self._pending if not o.done]
        for o in todo:
            self.cancel(o)
        return len(todo)

    # ---- what-if -------------------------------------------------------------------------------------------------
    def _what_if(self, session: Client, order_id: int, spec, raw: dict) -> None:
        inst = self._resolve(spec)
        action, quantity, order_type, limit, stop, tif, outside_rth = self._validate(inst, raw)
        price = self._order_price(inst, limit, stop)
        commission = self._commission_due(inst, quantity, quantity * price)
        v = self.portfolio.values()
        pos = self.portfolio.positions.get(inst.con_id)
        held = pos.quantity if pos else 0
        new = held + (quantity if action == "BUY" else -quantity)
        change = _initial_margin(inst, abs(new) - abs(held), price)
        init_before = v["InitMarginReq"]
        equity = v["EquityWithLoanValue"]
        order = Order(session.client_id or 0, order_id, 0, inst, spec.exchange, raw.get("account") or
                      self.gw.account, dict(raw), action, quantity, order_type, limit, stop, tif, outside_rth,
                      int(raw.get("parentId") or 0), raw.get("ocaGroup", ""), int(raw.get("ocaType") or 0),
                      status="PreSubmitted")
        state = {
            "initMarginBefore": f"{init_before:.2f}", "maintMarginBefore": f"{init_before:.2f}",
            "equityWithLoanBefore": f"{equity:.2f}",
            "initMarginChange": f"{change:.2f}", "maintMarginChange": f"{change:.2f}",
            "equityWithLoanChange": f"{-commission:.2f}",
            "initMarginAfter": f"{init_before + change:.2f}", "maintMarginAfter": f"{init_before + change:.2f}",
            "equityWithLoanAfter": f"{equity - commission:.2f}",
            "commission": commission, "minCommission": commission, "maxCommission": commission,
            "commissionCurrency": "USD",
        }
        session.send(*open_order_fields(order, state))

    # ---- fills ---------------------------------------------------------------------------------------------------
    def _tick(self, boundary: int) -> None:
        """Work every live order against the 5-second bar that ends at ``boundary``."""
        self.ticks += 1
        start = boundary - BAR
        d = datetime.fromtimestamp(start, NEW_YORK).date()
        bars: dict[str, fills.BarCents | None] = {}
        for o in self.open_orders():            # placement (permId) order
            if not o.live:          # cancelled by an OCA fill earlier in this loop
                continue
            if boundary > o.expires_at:
                self.cancel(o)
                continue
            if boundary <= o.eligible_from:     # this bar was over before the order went live
                continue
            status = self._working_status(o, start)
            if status != o.status:     # e.g. the regular session opened: PreSubmitted -> Submitted
                o.status = status
                self._send_order(o, open_order=False)
            if status == "PreSubmitted" and not o.order_type.startswith("STP"):
                continue
            capacity = self._capacity(o)
            if capacity <= 0:
                continue
            if not self._in_hours(o, start):
                continue
            sym = o.inst.key
            if sym not in bars:
                bars[sym] = self._bar(sym, d, start)
            bar = bars[sym]
            if bar is None:
                continue
            now_triggered = False
            if o.order_type in ("STP", "STP LMT") and not o.stop_triggered:
                assert o.stop is not None
                if fills.triggered(o.buy, o.stop, bar):
                    o.stop_triggered = now_triggered = True
                    o.status = "Submitted"
                    self._send_order(o, open_order=False)
            price = fills.fill_price(o.order_type, o.buy, bar, o.limit, o.stop, o.stop_triggered, now_triggered)
            if price is None:
                continue
            shares = fills.fill_size(capacity, bar.volume, self.volume_share)
            if shares > 0:
                self._execute(o, shares, price, boundary)
        if boundary % REFRESH_SECONDS == 0:
            self.portfolio.refresh()
        if self.portfolio.streams_pnl:
            self.portfolio.refresh_pnl()

    def _bar(self, symbol: str, d, start: int) -> fills.BarCents | None:
        got = self.gw.market.bar_at(symbol, start)
        if got is None:
            return None
        db, i = got
        k = 100 // db.scale if db.scale <= 100 else 1     # price units -> cents (futures: ticks of 1, .25, .1, .01)
        return fills.BarCents(int(db.o[i]) * k, int(db.h[i]) * k, int(db.low[i]) * k, int(db.c[i]) * k, int(db.v[i]),
                              k if db.kind == "future" else 0)

    def _order_price(self, inst: Instrument, limit: int | None, stop: int | None) -> float:
        """What an order is valued at before it fills: its limit, else its stop (cents), else the mark."""
        return (limit or stop or round(self.portfolio.mark(inst) * 100)) / 100

    def _commission_due(self, inst: Instrument, filled: int, value: float) -> float:
        """The whole commission of an order that has filled ``filled`` shares or contracts worth ``value``."""
        if inst.is_future:
            return fills.future_commission_due(filled)
        return fills.commission_due(filled, value, self.commission_per_share, self.min_commission)

    def _execute(self, o: Order, shares: int, price_cents: int, boundary: int) -> None:
        price = price_cents / 100
        side = 1 if o.buy else -1
        o.filled += shares
        o.fill_value += shares * price
        due = self._commission_due(o.inst, o.filled, o.fill_value)
        commission = round(due - o.commission_paid, 6)
        o.commission_paid = due
        o.last_fill_price = price
        o.avg_fill_price = round(o.fill_value / o.filled, 6)
        realized = self.portfolio.book_fill(o.inst, side, shares, price, commission)
        self.exec_seq += 1
        ex = Execution(o, f"{o.perm_id:08x}.{self.exec_seq:08x}.01.01", boundary,
                       "BOT" if o.buy else "SLD", shares, price, o.filled, o.avg_fill_price,
                       "ISLAND" if o.inst.primary == "NASDAQ" else o.inst.primary, commission, realized,
                       2 if o.order_type in ("MKT", "STP") else 1)
        self.executions.append(ex)
        if o.remaining == 0:
            self._complete(o, "Filled")
        s = self._owner(o)
        if s is not None:
            s.send(*exec_details_fields(-1, ex))
            s.send(*order_status_fields(o))
            s.send(*commission_report_fields(ex))
        log.info("fill: client %d order %d %s %d %s @ %.2f (%d/%d)", o.client_id, o.order_id, ex.side, shares,
                 o.inst.symbol, price, o.filled, o.quantity)
        self._after_fill(o, shares, boundary)
        self.portfolio.on_fill(o.inst)

    def _capacity(self, o: Order) -> int:
        """Shares ``o`` may fill now: its remainder; for a bracket child at most what the parent bought (sold) and
        the children have not yet closed, so partial parent fills are protected without overshooting."""
        parent = self.orders.get((o.client_id, o.parent_id)) if o.parent_id else None
        if parent is None:
            return o.remaining
        return min(o.remaining, parent.filled - sum(c.filled for c in parent.children))

    def _after_fill(self, o: Order, shares: int, boundary: int) -> None:
        if o.children:
            first = o.filled == shares
            for c in o.children:        # children start working on the bar after the parent's first fill
                if c.live:
                    if first:
                        c.eligible_from = boundary
                    status = self._working_status(c, boundary)
                    if status != c.status:
                        c.status = status
                        self._send_order(c, open_order=False)
        for other in self._oca_peers(o):
            if o.oca_group and o.oca_type in (0, 1):
                self.cancel(other, "OCA group")        # cancel the rest on the first fill
            else:                                       # types 2/3 and bracket children: reduce by the fill
                other.quantity = max(other.filled, other.quantity - shares)
                if other.remaining <= 0:
                    self.cancel(other, "OCA group")
                else:
                    self._send_order(other)

    def _oca_peers(self, o: Order) -> list[Order]:
        if o.oca_group:
            return [x for x in self._pending if x is not o and x.live and x.account == o.account
                    and x.oca_group == o.oca_group]
        if o.parent_id:
            parent = self.orders.get((o.client_id, o.parent_id))
            if parent is not None:
                return [c for c in parent.children if c is not o and c.live]
        return []

    # ---- scheduler -------------------------------------------------------------------------------------------
    def _needs_ticks(self) -> bool:
        return any(o.live for o in self._pending) or self.portfolio.streams_pnl

    async def _run(self) -> None:
        clock = self.gw.clock
        wake = self._wake
        assert wake is not None
        while True:
            wake.clear()
            now = clock.epoch()
            if self._needs_ticks():
                target = int(now // BAR) * BAR
                last = self._last_boundary
                if last is None or target - last > MAX_CATCHUP * BAR:
                    last = target - BAR
                batch = 0
                while last < target:
                    last += BAR
                    try:
                        self._last_boundary = last      # worked once this tick is durable (journal.py)
                        durably(self.gw, self._tick, last)
                    except Exception:
                        log.exception("order book tick at %s failed", last)
                    batch += 1
                    if batch >= MAX_BATCH:
                        self._last_boundary = last
                        await asyncio.sleep(0)
                        batch = 0
                self._last_boundary = target
                self._last_refresh = None
                due = target + BAR
            elif self.portfolio.has_subscribers:
                self._last_boundary = None
                target = int(now // REFRESH_SECONDS) * REFRESH_SECONDS
                if self._last_refresh is not None and target > self._last_refresh:
                    self.portfolio.refresh()
                self._last_refresh = target
                due = target + REFRESH_SECONDS
            else:
                self._last_boundary = self._last_refresh = None
                await self._idle()
                continue
            await self._wait_until(due)


def _initial_margin(inst: Instrument, quantity: int, price: float) -> float:
    """The initial margin of ``quantity`` at ``price``: ``MARGIN_RATE`` of the notional (a future's points x its
    multiplier)."""
    return quantity * price * inst.multiplier * MARGIN_RATE


__all__ = ["Execution", "Order", "OrderBook", "Rejected"]
