"""The one place for order and watcher limits, and the one wording for breaking them.

``IBClient`` (its ``max_quantity`` / ``max_notional`` default to these), the CLI and ``breakout-kit demo`` all check
through the functions below, so a user sees the same limit in the same words wherever a value is refused.
Values far from the market (``far_from_market``) are not refused outright: the CLI shows the warning and asks for
``force=1`` to place the order anyway.
"""

from __future__ import annotations

import math

from breakout_kit.core.breakout import MAX_LOOKBACK

MAX_QUANTITY = 1000            # shares per order
MAX_NOTIONAL = 250_000.0       # quantity x price per order (stocks, ETFs, forex)
MAX_CONTRACTS = 10             # futures contracts per order unless forced (notional is not their risk measure:
                               # one ES contract is ~$330 000 of index exposure on ~$20 000 of margin)
LOOKBACK_RANGE = (1, MAX_LOOKBACK)   # bars in a breakout channel: BreakoutRule's one limit
FAR_STOP_PCT = 20.0            # a stop-loss further than this below the entry needs force=1
FAR_LIMIT_PCT = 10.0           # a limit price further than this from the last price needs force=1


class LimitError(ValueError):
    """A value outside the kit's limits; the message names the value, the limit and why."""


def check_quantity(quantity: object, max_quantity: int = MAX_QUANTITY, name: str = "quantity") -> int:
    """A whole number of shares in 1..``max_quantity``; ``LimitError`` otherwise."""
    if isinstance(quantity, bool) or not isinstance(quantity, int | float) or not math.isfinite(quantity) \
            or quantity != int(quantity) or quantity <= 0:
        raise LimitError(f"{name} must be a positive whole number of shares, got {quantity!r}")
    if quantity > max_quantity:
        raise LimitError(f"{name} {int(quantity)} exceeds the per-order limit of {max_quantity} shares")
    return int(quantity)


def check_notional(quantity: int, price: float, max_notional: float = MAX_NOTIONAL) -> None:
    """``quantity * price`` within the per-order value limit."""
    if quantity * price > max_notional:
        raise LimitError(f"order value {quantity * price:,.2f} exceeds the per-order limit of {max_notional:,.2f}")


def check_contracts(quantity: int, max_contracts: int = MAX_CONTRACTS) -> None:
    """A futures order of at most ``max_contracts`` contracts (``force=1`` in the CLI, ``force=True`` in code, to
    place more)."""
    if quantity > max_contracts:
        raise LimitError(f"quantity {quantity} exceeds the per-order limit of {max_contracts} futures contracts "
                         f"(force=1 places it anyway)")


def check_lookback(lookback: object) -> int:
    """A breakout channel length in ``LOOKBACK_RANGE`` bars."""
    low, high = LOOKBACK_RANGE
    if isinstance(lookback, bool) or not isinstance(lookback, int) or not low <= lookback <= high:
        raise LimitError(f"lookback must be a whole number of bars from {low} to {high}, got {lookback!r}")
    return lookback


def far_stop(stop_loss_pct: float) -> str | None:
    """A warning when the stop-loss sits more than ``FAR_STOP_PCT`` % below the entry, else None."""
    if stop_loss_pct > FAR_STOP_PCT:
        return f"stop-loss {stop_loss_pct:g}% below the entry is more than {FAR_STOP_PCT:g}% away"
    return None


def far_limit(limit: float, last: float) -> str | None:
    """A warning when a limit price is more than ``FAR_LIMIT_PCT`` % from the last price, else None."""
    if not (last > 0 and math.isfinite(last)):
        return None
    off = (limit / last - 1.0) * 100.0
    if abs(off) > FAR_LIMIT_PCT:
        side = "above" if off > 0 else "below"
        return (f"limit {limit:g} is {abs(off):.1f}% {side} the last price {last:g} "
                f"(more than {FAR_LIMIT_PCT:g}%)")
    return None
