"""Order request handlers: placeOrder, cancels, open/completed orders, executions (the book is sim/orders.py).

Handled (incoming id -> replies):
  3 placeOrder -> 5 openOrder + 3 orderStatus, fills later as 11 execDetails + 59 commissionReport (or 4 error)
  4 cancelOrder -> 3 orderStatus Cancelled + 4 error 202; 58 reqGlobalCancel -> the same for every open order
  5 reqOpenOrders (this client) / 16 reqAllOpenOrders (every client) -> 5 + 3 each, then 53 openOrderEnd
  99 reqCompletedOrders -> 101 completedOrder each, then 102 completedOrdersEnd
  7 reqExecutions(filter) -> 11 execDetails + 59 commissionReport each, then 55 execDetailsEnd
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..sim.clock import NEW_YORK
from ..sim.history import parse_end
from ..sim.order_messages import (
    commission_report_fields,
    completed_order_fields,
    exec_details_fields,
    open_order_fields,
    order_status_fields,
)
from ..sim.order_model import ERR_READONLY, Execution, invalid
from ..sim.orders import OrderBook
from .order_codec import Unsupported, parse_place_order
from .protocol import Fields

if TYPE_CHECKING:
    from .session import Session


def book(session: Session) -> OrderBook:
    return session.gateway.orders


# ---- handlers -----------------------------------------------------------------------------------------------------
def place_order(session: Session, f: Fields) -> None:
    """placeOrder([version below 145,] orderId, contract, order...)."""
    peek = Fields(f.fields, f.pos)            # the orderId, for errors about the order's own fields
    if session.server_version < 145:
        peek.int()
    order_id = peek.int()
    try:
        order_id, spec, raw = parse_place_order(f, session.server_version)
    except Unsupported as e:
        session.error(order_id, 321, invalid(str(e)))
        return
    book(session).place(session, order_id, spec, raw)


def cancel_order(session: Session, f: Fields) -> None:
    """cancelOrder(version, orderId[, manualCancelOrderTime])."""
    f.int()  # version
    book(session).cancel_request(session, f.int())


def req_global_cancel(session: Session, f: Fields) -> None:
    """reqGlobalCancel: cancel every open order of the account, whichever client placed it."""
    if book(session).readonly_api:
        session.error(-1, 321, ERR_READONLY)
        return
    book(session).global_cancel()


def _send_open(session: Session, orders) -> None:
    for o in sorted(orders, key=lambda o: o.perm_id):
        session.send(*open_order_fields(o))
        session.send(*order_status_fields(o))
    session.send(53, 1)


def req_open_orders(session: Session, f: Fields) -> None:
    """reqOpenOrders -> this client's open orders, then openOrderEnd (53)."""
    _send_open(session, [o for o in book(session).open_orders() if o.client_id == session.client_id])


def req_all_open_orders(session: Session, f: Fields) -> None:
    """reqAllOpenOrders -> every client's open orders, then openOrderEnd (53)."""
    _send_open(session, book(session).open_orders())


def req_completed_orders(session: Session, f: Fields) -> None:
    """reqCompletedOrders(apiOnly) -> completedOrder (101) for every finished order, then 102."""
    done = [o for o in book(session).orders.values() if o.done]
    for o in sorted(done, key=lambda o: o.perm_id):
        session.send(*completed_order_fields(o))
    session.send(102)


def _exec_filter(f: Fields):
    client_id = f.int()
    acct = f.str()
    since = f.str().strip()
    symbol = f.str().upper()
    sec_type = f.str().upper()
    exchange = f.str().upper()
    side = f.str().upper()
    t0 = None
    if since:
        try:
            t0 = _parse_filter_time(since)
        except ValueError:
            t0 = None
    side = {"BUY": "BOT", "SELL": "SLD"}.get(side, side)

    def keep(ex: Execution) -> bool:
        o = ex.order
        return ((not client_id or o.client_id == client_id) and (not acct or o.account == acct)
                and (t0 is None or ex.epoch >= t0) and (not symbol or o.inst.symbol == symbol)
                and (not sec_type or sec_type == "STK") and (not exchange or exchange in (ex.exchange, o.exchange))
                and (not side or ex.side == side))

    return keep


def _parse_filter_time(text: str) -> float:
    """ExecutionFilter.time: ``yyyymmdd hh:mm:ss [tz]`` (New York unless a zone is given), UTC
    ``yyyymmdd-hh:mm:ss``, or a bare ``yyyymmdd`` (from that day's midnight, New York)."""
    if len(text) == 8 and text.isdigit():
        return datetime.strptime(text, "%Y%m%d").replace(tzinfo=NEW_YORK).timestamp()
    return parse_end(text)


def req_executions(session: Session, f: Fields) -> None:
    """reqExecutions(version, reqId, filter) -> execDetails (11) + commissionReport (59) each, then 55."""
    f.int()  # version
    req_id = f.int()
    keep = _exec_filter(f)
    for ex in book(session).executions:
        if keep(ex):
            session.send(*exec_details_fields(req_id, ex))
            session.send(*commission_report_fields(ex))
    session.send(55, 1, req_id)


def drop_streams(session: Session) -> None:
    orders = getattr(session.gateway, "orders", None)
    if orders is not None:
        orders.portfolio.drop_session(session)

