"""The NYSE trading calendar (holidays, early closes), from ``exchange_calendars`` — the one place both the paper
gateway and the client side ask "is this a session?" and "how many sessions back?".

Pure computation: the calendar is built once per process on first use (about a second: exchange_calendars and
pandas load lazily, so importing this module is free) for sessions 2000-01-01 .. 2035-12-31. Outside that range
every weekday counts as a full session (16:00 close).

Times are New York wall-clock times; dates are session dates.
"""

from __future__ import annotations

import bisect
import warnings
from datetime import date, time, timedelta
from functools import lru_cache

__all__ = ["CLOSE", "EARLY_CLOSE", "OPEN", "is_early_close", "is_session", "next_session", "previous_session",
           "session_close", "sessions_back", "sessions_in", "warm"]

OPEN = time(9, 30)
CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)
FIRST = date(2000, 1, 1)
LAST = date(2035, 12, 31)
EXCHANGE = "XNYS"


class _Table:
    """Session ordinals (sorted) and early-close times, from exchange_calendars."""

    def __init__(self) -> None:
        import exchange_calendars as xc

        with warnings.catch_warnings():
            # exchange_calendars 4.x still reads Series.values, which pandas 3.1 deprecates: not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            cal = xc.get_calendar(EXCHANGE, start=FIRST.isoformat(), end=LAST.isoformat())
        self.sessions: list[int] = [d.toordinal() for d in cal.sessions.date]
        self.session_set = frozenset(self.sessions)
        closes = cal.schedule["close"].dt.tz_convert("America/New_York")
        self.early: dict[int, time] = {
            s.toordinal(): c.time() for s, c in zip(cal.sessions.date, closes) if c.time() != CLOSE}


@lru_cache(maxsize=1)
def _table() -> _Table:
    return _Table()


def warm() -> None:
    """Build the calendar now (about a second, once per process) rather than on first use."""
    _table()


def _in_range(d: date) -> bool:
    return FIRST <= d <= LAST


def is_session(d: date) -> bool:
    """True when the NYSE trades on day ``d`` (weekdays that are not exchange holidays)."""
    if not _in_range(d):
        return d.weekday() < 5
    return d.toordinal() in _table().session_set


def session_close(d: date) -> time | None:
    """The regular-hours close of session ``d`` (16:00, or 13:00 on early-close days); None when closed."""
    if not is_session(d):
        return None
    if not _in_range(d):
        return CLOSE
    return _table().early.get(d.toordinal(), CLOSE)


def is_early_close(d: date) -> bool:
    """True for half days (the day after Thanksgiving, Christmas Eve, July 3rd ...)."""
    close = session_close(d)
    return close is not None and close != CLOSE


def previous_session(d: date) -> date:
    """The last session strictly before ``d``."""
    d -= timedelta(days=1)
    while not is_session(d):
        d -= timedelta(days=1)
    return d


def next_session(d: date) -> date:
    """The first session strictly after ``d``."""
    d += timedelta(days=1)
    while not is_session(d):
        d += timedelta(days=1)
    return d


def sessions_back(last: date, count: int) -> date:
    """The first of ``count`` sessions ending with the latest session on or before ``last``."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    ordinals = _table().sessions
    if _in_range(last) and FIRST.toordinal() <= last.toordinal() - count * 2 - 10:
        k = bisect.bisect_right(ordinals, last.toordinal()) - 1
        if k - (count - 1) >= 0:
            return date.fromordinal(ordinals[k - (count - 1)])
    d = last if is_session(last) else previous_session(last)
    for _ in range(count - 1):
        d = previous_session(d)
    return d


def sessions_in(first: date, last: date) -> list[date]:
    """Session dates in [first, last]."""
    out = []
    d = first
    while d <= last:
        if is_session(d):
            out.append(d)
        d += timedelta(days=1)
    return out
