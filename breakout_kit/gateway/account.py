"""Account side, minimal: the replies ``IB.connectAsync`` waits for, plus reqCurrentTime.

ib_insync 0.9.86 ``connectAsync`` sends reqPositions (61) always; reqOpenOrders (5) and reqCompletedOrders (99) when
not readonly; reqAccountUpdates (6) for the single account; reqAccountUpdatesMulti (76) per account; then
reqExecutions (7). Each gets its end marker here with an empty book. The orders/account module replaces these
handlers (``session.register`` keeps the last registration) when it lands.
"""

from __future__ import annotations

from .protocol import Fields
from .session import Session, register


@register(61)
def req_positions(session: Session, f: Fields) -> None:
    """reqPositions -> positionEnd (62)."""
    session.send(62, 1)


@register(64)
def cancel_positions(session: Session, f: Fields) -> None:
    """cancelPositions: nothing streams, nothing to stop."""


@register(5)
def req_open_orders(session: Session, f: Fields) -> None:
    """reqOpenOrders -> openOrderEnd (53)."""
    session.send(53, 1)


@register(15)
def req_auto_open_orders(session: Session, f: Fields) -> None:
    """reqAutoOpenOrders (clientId 0): accepted, nothing to send."""


@register(99)
def req_completed_orders(session: Session, f: Fields) -> None:
    """reqCompletedOrders -> completedOrdersEnd (102)."""
    session.send(102)


@register(6)
def req_account_updates(session: Session, f: Fields) -> None:
    """reqAccountUpdates(subscribe, account) -> a few account values, accountTime, accountDownloadEnd (54)."""
    subscribe = f.bool()
    account = f.str() or session.gateway.accounts[0]
    if not subscribe:
        return
    for key, value, currency in (
        ("AccountType", "INDIVIDUAL", ""),
        ("NetLiquidation", "1000000.00", "USD"),
        ("TotalCashValue", "1000000.00", "USD"),
        ("BuyingPower", "4000000.00", "USD"),
        ("AvailableFunds", "1000000.00", "USD"),
    ):
        session.send(6, 2, key, value, currency, account)
    session.send(8, 1, f"{session.gateway.clock.now():%H:%M}")
    session.send(54, 1, account)


@register(76)
def req_account_updates_multi(session: Session, f: Fields) -> None:
    """reqAccountUpdatesMulti(reqId, account, modelCode, ledgerAndNLV) -> accountUpdateMultiEnd (74)."""
    f.int()  # version
    req_id = f.int()
    session.send(74, 1, req_id)


@register(77)
def cancel_account_updates_multi(session: Session, f: Fields) -> None:
    """cancelAccountUpdatesMulti: nothing streams."""


@register(7)
def req_executions(session: Session, f: Fields) -> None:
    """reqExecutions(reqId, filter...) -> execDetailsEnd (55)."""
    f.int()  # version
    req_id = f.int()
    session.send(55, 1, req_id)


@register(49)
def req_current_time(session: Session, f: Fields) -> None:
    """reqCurrentTime -> currentTime (49) in gateway-clock epoch seconds."""
    session.send(49, 1, int(session.gateway.clock.epoch()))
