"""Argument checks shared by the backtest, the sweep, the portfolio and the cost model: one wording each."""

from __future__ import annotations

import math

__all__ = ["check_pct", "check_positive"]


def check_pct(name: str, value) -> float:
    """A percentage strictly between 0 and 100."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 100), got {value!r}") from None
    if not 0.0 < v < 100.0:
        raise ValueError(f"{name} must be in (0, 100) percent, got {value!r}")
    return v


def check_positive(name: str, value, allow_zero: bool = False) -> float:
    """A finite number > 0 (>= 0 with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(v) or math.isinf(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v
