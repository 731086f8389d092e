"""Trading hours per instrument kind, pure: when a stock, an index, a future or a currency pair trades.

Kinds (``KINDS``) and their sessions, New York wall-clock times, one session per *session date* ``d``:

* ``stock``: NYSE sessions (``core.calendar``), extended hours 04:00-20:00 (17:00 on early closes), regular
  09:30-16:00 (13:00 on early closes).
* ``index``: NYSE sessions, 09:30 to the regular close (an index is computed from its members' trades).
* ``future`` (CME Globex): from 18:00 the calendar day before ``d`` to 17:00 on ``d``, so the week runs Sunday
  18:00 to Friday 17:00 with the daily 17:00-18:00 halt; session dates are exchange_calendars' ``CMES`` sessions
  (CME holidays). Regular ("liquid") hours 09:30-16:15, the equity index pit hours, for every root.
* ``forex`` (IDEALPRO): from 17:15 the calendar day before ``d`` to 17:00 on ``d`` for weekdays ``d`` (Sunday 17:15
  to Friday 17:00, the daily 17:00-17:15 break); regular hours = the whole session.

The CME calendar is built once per process on first use (exchange_calendars loads lazily).
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from breakout_kit.core import calendar

__all__ = ["KINDS", "check_kind", "is_session", "regular_mask", "regular_window", "session_date", "session_day_ids",
           "session_window"]

KINDS = ("stock", "index", "future", "forex")
NEW_YORK = ZoneInfo("America/New_York")
_WINDOWS = {
    # kind: (open on the day before or None, open on the day, close on the day)
    "future": (time(18, 0), time(17, 0)),
    "forex": (time(17, 15), time(17, 0)),
}
FUTURE_REGULAR = (time(9, 30), time(16, 15))
CME_CALENDAR = "CMES"


def check_kind(kind: object) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return str(kind)


@lru_cache(maxsize=1)
def _cme_sessions() -> frozenset[date]:
    import exchange_calendars as xc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        cal = xc.get_calendar(CME_CALENDAR, start=calendar.FIRST.isoformat(), end=calendar.LAST.isoformat())
    return frozenset(cal.sessions.date)


def is_session(kind: str, d: date) -> bool:
    """True when instruments of ``kind`` have a session dated ``d``."""
    kind = check_kind(kind)
    if kind in ("stock", "index"):
        return calendar.is_session(d)
    if d.weekday() >= 5:
        return False
    if kind == "future" and calendar.FIRST <= d <= calendar.LAST:
        return d in _cme_sessions()
    return True


def _at(d: date, t: time) -> datetime:
    return datetime(d.year, d.month, d.day, t.hour, t.minute, tzinfo=NEW_YORK)


def session_window(kind: str, d: date) -> tuple[datetime, datetime] | None:
    """[open, close) of the whole session dated ``d`` (extended hours for stocks), or None when closed."""
    if not is_session(kind, d):
        return None
    if kind in _WINDOWS:
        opens, closes = _WINDOWS[kind]
        return _at(d - timedelta(days=1), opens), _at(d, closes)
    close = calendar.session_close(d) or calendar.CLOSE     # a session: never None here
    if kind == "index":
        return _at(d, calendar.OPEN), _at(d, close)
    return _at(d, time(4, 0)), _at(d, time(20, 0) if close == calendar.CLOSE else time(17, 0))


def regular_window(kind: str, d: date) -> tuple[datetime, datetime] | None:
    """[open, close) of the regular (liquid) hours of session ``d``, or None when closed."""
    whole = session_window(kind, d)
    if whole is None:
        return None
    if kind == "future":
        return _at(d, FUTURE_REGULAR[0]), _at(d, FUTURE_REGULAR[1])
    if kind == "forex":
        return whole
    return _at(d, calendar.OPEN), _at(d, calendar.session_close(d) or calendar.CLOSE)


def session_date(kind: str, t: datetime) -> date | None:
    """The session date whose whole session contains ``t`` (aware), or None in a pause (nights, halts, weekends)."""
    local = t.astimezone(NEW_YORK)
    for d in (local.date(), local.date() + timedelta(days=1)):
        w = session_window(kind, d)
        if w is not None and w[0] <= local < w[1]:
            return d
    return None


#: how far a session opening the evening before is shifted so that its bars fall on the session date
_EVENING_SHIFT = {"future": pd.Timedelta(hours=6), "forex": pd.Timedelta(hours=6, minutes=45)}


def session_day_ids(times: pd.DatetimeIndex, kind: str) -> np.ndarray:
    """Each bar's session date (int64 days since the epoch) for instruments of ``kind``: the New York calendar day
    for stocks and indexes; for futures and forex the evening bars belong to the next day's session (a future's
    Sunday 18:00 bar is in Monday's session). Naive times are taken as New York time."""
    kind = check_kind(kind)
    local = times.tz_convert(NEW_YORK) if times.tz is not None else times.tz_localize(NEW_YORK)
    shift = _EVENING_SHIFT.get(kind)
    if shift is not None:
        local = local + shift
    return local.tz_localize(None).normalize().as_unit("ns").asi8 // 86_400_000_000_000


def regular_mask(times: pd.DatetimeIndex, kind: str) -> np.ndarray:
    """True for each bar starting inside its session's regular hours (``regular_window``) for ``kind``."""
    kind = check_kind(kind)
    local = times.tz_convert(NEW_YORK) if times.tz is not None else times.tz_localize(NEW_YORK)
    days = session_day_ids(times, kind)
    keep = np.zeros(len(times), dtype=bool)
    ns = local.as_unit("ns").asi8
    for day in np.unique(days):
        w = regular_window(kind, date.fromordinal(int(day) + date(1970, 1, 1).toordinal()))
        if w is None:
            continue
        lo, hi = (pd.Timestamp(t).as_unit("ns").value for t in w)
        sel = days == day
        keep[sel] = (ns[sel] >= lo) & (ns[sel] < hi)
    return keep
