"""The one table of incoming TWS request ids: id -> the handler that answers it.

Every handler is ``fn(session, fields)`` with ``fields`` a ``protocol.Fields`` cursor after the message id. The
table is written out (no registration side effects, no string imports) so a reader and the architecture test see
every edge. ``register`` / ``on_disconnect`` still let a test or an extension add an entry at run time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import account_requests as account
from . import contract_requests as contracts
from . import marketdata_requests as marketdata
from . import order_requests as orders
from . import scanner_requests as scanner

if TYPE_CHECKING:
    from .protocol import Fields
    from .session import Session

log = logging.getLogger("breakout_kit.gateway")

Handler = Callable[["Session", "Fields"], None]


def req_ids(session: Session, f: Fields) -> None:
    """reqIds -> nextValidId (9)."""
    session.send(9, 1, session.gateway.next_order_id)


#: incoming message id -> handler(session, fields)
HANDLERS: dict[int, Handler] = {
    1: marketdata.req_mkt_data,
    2: marketdata.cancel_mkt_data,
    3: orders.place_order,
    4: orders.cancel_order,
    5: orders.req_open_orders,
    6: account.req_account_updates,
    7: orders.req_executions,
    8: req_ids,
    9: contracts.req_contract_details,
    15: orders.req_auto_open_orders,
    16: orders.req_all_open_orders,
    20: marketdata.req_historical_data,
    22: scanner.req_scanner_subscription,
    23: scanner.cancel_scanner_subscription,
    24: scanner.req_scanner_parameters,
    25: marketdata.cancel_historical_data,
    49: account.req_current_time,
    50: marketdata.req_real_time_bars,
    51: marketdata.cancel_real_time_bars,
    58: orders.req_global_cancel,
    59: marketdata.req_market_data_type,
    61: account.req_positions,
    62: account.req_account_summary,
    63: account.cancel_account_summary,
    64: account.cancel_positions,
    74: account.req_positions_multi,
    75: account.cancel_positions_multi,
    76: account.req_account_updates_multi,
    77: account.cancel_account_updates_multi,
    81: contracts.req_matching_symbols,
    87: marketdata.req_head_timestamp,
    90: marketdata.cancel_head_timestamp,
    92: account.req_pnl,
    93: account.cancel_pnl,
    94: account.req_pnl_single,
    95: account.cancel_pnl_single,
    99: orders.req_completed_orders,
}

#: called once per session when its connection ends (per-client cleanup)
DISCONNECT_HOOKS: list[Callable[[Session], None]] = [
    marketdata.drop_subscriptions,
    orders.drop_streams,
    scanner.drop_scans,
]


def register(msg_id: int) -> Callable[[Handler], Handler]:
    """Decorator: make ``fn(session, fields)`` the handler for incoming message ``msg_id`` (replacing the table's)."""

    def deco(fn: Handler) -> Handler:
        if msg_id in HANDLERS and HANDLERS[msg_id] is not fn:
            log.debug("handler for message %d replaced by %s", msg_id, fn.__qualname__)
        HANDLERS[msg_id] = fn
        return fn

    return deco


def on_disconnect(fn: Callable[[Session], None]) -> Callable[[Session], None]:
    """Decorator: call ``fn(session)`` when any session ends (cancel its subscriptions etc.)."""
    DISCONNECT_HOOKS.append(fn)
    return fn
