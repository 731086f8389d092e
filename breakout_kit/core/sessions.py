"""Regular or extended hours, pure: which bars of a frame belong to NYSE's regular session.

``session="regular"`` keeps the bars that start inside the regular session of their New York day (09:30 to 16:00,
to 13:00 on early-close days, nothing on holidays and weekends) — what IB's ``useRTH=1`` returns.
``session="extended"`` keeps every bar as given (IB's ``useRTH=0``: 04:00 to 20:00 for US stocks). Daily and
longer bars are sessions already and are kept either way. The calendar is :mod:`breakout_kit.core.calendar`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from breakout_kit.core import calendar, trading_hours

__all__ = ["SESSIONS", "regular_hours", "select_session"]

SESSIONS = ("extended", "regular")
NEW_YORK = "America/New_York"


def check_session(session: object) -> str:
    if session not in SESSIONS:
        raise ValueError(f"session must be one of {SESSIONS}, got {session!r}")
    return str(session)


def regular_hours(times: pd.DatetimeIndex) -> np.ndarray:
    """True for each bar start inside its day's regular session (naive times are taken as New York time)."""
    local = times.tz_convert(NEW_YORK) if times.tz is not None else times
    days = local.normalize()
    minute = (local - days) // pd.Timedelta(minutes=1)
    opens = np.full(len(times), calendar.OPEN.hour * 60 + calendar.OPEN.minute)
    closes = np.zeros(len(times), dtype=np.int64)
    uniq, where = np.unique(days.tz_localize(None).as_unit("ns").asi8, return_inverse=True)
    for k, ns in enumerate(uniq):
        close = calendar.session_close(pd.Timestamp(ns, unit="ns").date())
        closes[where == k] = 0 if close is None else close.hour * 60 + close.minute
    m = np.asarray(minute)
    return (m >= opens) & (m < closes)


def select_session(bars: pd.DataFrame, session: str, calendar_kind: str = "stock") -> pd.DataFrame:
    """``bars`` (a bar frame as :func:`~breakout_kit.core.backtest.backtest` takes it) restricted to ``session``;
    ``calendar_kind`` (stock, index, future, forex: :mod:`breakout_kit.core.trading_hours`) names the hours."""
    from breakout_kit.core.breakout import _times_of

    session = check_session(session)
    if session == "extended" or len(bars) < 2:
        return bars
    times = _times_of(bars)
    step = np.median(np.diff(times.as_unit("ns").asi8))
    if step >= pd.Timedelta(days=1).value:  # daily or longer bars are whole sessions
        return bars
    keep = regular_hours(times) if calendar_kind == "stock" else trading_hours.regular_mask(times, calendar_kind)
    if keep.all():
        return bars
    if not keep.any():
        where = ("09:30-16:00 New York on NYSE sessions" if calendar_kind in ("stock", "index") else
                 f"the {calendar_kind} calendar's regular hours")
        raise ValueError(f"no bar falls in regular trading hours ({where})")
    return bars[keep]
