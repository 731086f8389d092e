"""The checks every order passes before anything is sent: trading allowed, a paper account unless live trading was
asked for, sane numbers, size and value limits; and what TWS's answer means (refused or taken)."""

from __future__ import annotations

import math

from breakout_kit.client import limits
from breakout_kit.client.config import Settings, mask_account
from breakout_kit.client.errors import OrderRejected
from breakout_kit.client.iblib import Trade


def check_trading(settings: Settings) -> None:
    """OrderRejected unless this client was created to trade."""
    if not settings.trading:
        raise OrderRejected("trading is disabled: connect with IBClient(..., trading=True) to place orders "
                            "(paper accounts only unless allow_live=True)")
    if settings.readonly:
        raise OrderRejected("this connection is read-only: create the client with readonly=False to trade")


def check_account(settings: Settings, account: str) -> None:
    """OrderRejected for a live account unless live trading was asked for."""
    if not account.startswith("DU") and not settings.allow_live:
        raise OrderRejected(f"account {mask_account(account)} is not a paper (DU...) account: live "
                            f"trading needs IBClient(..., allow_live=True)")


def order_ref(value: object) -> str | None:
    """An idempotency key as given (None: one is generated): printable text, no control characters (a NUL would
    break the message framing), at most 128 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 128 or not value.isprintable():
        raise OrderRejected(f"order_ref must be printable text of 1 to 128 characters, got {value!r}")
    return value


def pct(value, name: str) -> float:
    """A percentage strictly between 0 and 100."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OrderRejected(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and 0 < v < 100):
        raise OrderRejected(f"{name} must be between 0 and 100 (exclusive), got {value!r}")
    return v


def quantity(value: object, max_quantity: int) -> int:
    try:
        return limits.check_quantity(value, max_quantity)
    except limits.LimitError as e:
        raise OrderRejected(str(e)) from None


def notional(qty: int, price: float, max_notional: float) -> None:
    try:
        limits.check_notional(qty, price, max_notional)
    except limits.LimitError as e:
        raise OrderRejected(str(e)) from None


def size(contract, qty: int, price: float, max_notional: float, force: bool = False) -> None:
    """The size limit of ``contract``'s kind: futures a number of contracts (``limits.MAX_CONTRACTS``, lifted by
    ``force``), everything else the order value."""
    try:
        if getattr(contract, "secType", "") in ("FUT", "CONTFUT"):
            if not force:
                limits.check_contracts(qty)
        else:
            limits.check_notional(qty, price, max_notional)
    except limits.LimitError as e:
        raise OrderRejected(str(e)) from None


def entry_price(value: object) -> float:
    """A bracket's limit entry: a positive, finite price."""
    try:
        v = float(value)        # type: ignore[arg-type]  # checked here
    except (TypeError, ValueError):
        raise OrderRejected(f"entry must be 'market' or a limit price, got {value!r}") from None
    if isinstance(value, bool) or not (math.isfinite(v) and v > 0):
        raise OrderRejected(f"limit price must be positive, got {value!r}")
    return v


def refused(trade: Trade) -> bool:
    """TWS refused the order. ib_insync cancels a trade on an order error; ib_async takes some (321, and
    110 on a live order) as warnings and sets status ValidationError: a refusal if TWS never took the order."""
    status = trade.orderStatus.status
    if status in ("Cancelled", "Inactive", "ApiCancelled"):
        return True
    never_taken = all(e.status in ("PendingSubmit", "ValidationError") for e in trade.log)
    return status == "ValidationError" and never_taken


def raise_if_refused(trades: list[Trade]) -> None:
    """OrderRejected with TWS's reason for the first refused order that has nothing filled."""
    for t in trades:
        if refused(t) and not t.filled():
            reasons = [e.message for e in t.log if e.errorCode]
            reason = reasons[-1] if reasons else t.orderStatus.status
            if "read-only" in reason.lower():
                raise OrderRejected(f"TWS refused order {t.order.orderId}: its API is in read-only mode; untick "
                                    f"'Read-Only API' in TWS Global Configuration > API > Settings (IB Gateway: "
                                    f"Configure > Settings > API > Settings)")
            raise OrderRejected(f"TWS rejected order {t.order.orderId}: {reason}")


__all__ = ["check_account", "check_trading", "entry_price", "notional", "order_ref", "pct", "quantity",
           "raise_if_refused", "refused", "size"]
