"""Bars and IB's bar-size / duration vocabulary: the one place that knows how IB spells them (sans-I/O).

* ``Bar``: one OHLCV bar.
* Bar sizes: IB's spellings from ``1 secs`` to ``1 month`` (``BAR_SIZES``, in time order). ``bar_size()`` accepts
  IB's spelling (``"5 mins"``) and the short one (``"5m"``, ``"30s"``, ``"1h"``, ``"1d"``, ``"1w"``, ``"1mo"``) and
  returns IB's; anything else raises ``ValueError`` with the one message listing the sizes in time order.
  ``live_bar_size()`` further requires a size a live watcher can build from IB's 5-second real-time bars.
* Durations: ``"5 D"``, ``"5D"``, ``"2 w"`` -> ``duration()`` gives IB's ``"5 D"``; ``duration_seconds()``.
* ``BarAggregator``: complete ``bar_size`` bars from 5-second real-time bars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["BAR_SIZES", "LIVE_BAR_SIZES", "Bar", "BarAggregator", "bar_seconds", "bar_size", "duration",
           "duration_seconds", "live_bar_size", "parse_duration"]


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar; ``time`` is the bar's start (timezone-aware ``datetime`` or ``pandas.Timestamp``)."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


PIECE = 5  # IB real-time bars are always 5 seconds
_DAY, _WEEK, _MONTH = 86_400, 7 * 86_400, 30 * 86_400

#: every IB barSizeSetting, in time order -> its length in seconds (a month counted as 30 days)
BAR_SECONDS: dict[str, int] = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30,
    "1 min": 60, "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200,
    "30 mins": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10_800, "4 hours": 14_400, "8 hours": 28_800,
    "1 day": _DAY, "1 week": _WEEK, "1 month": _MONTH,
}
BAR_SIZES: tuple[str, ...] = tuple(BAR_SECONDS)
#: sizes a live watcher builds from 5-second real-time bars (aligned buckets up to an hour)
LIVE_BAR_SIZES: tuple[str, ...] = tuple(s for s, n in BAR_SECONDS.items() if n % PIECE == 0 and n <= 3600)

# unit word (any accepted spelling, lower case) -> IB's singular unit
_UNITS = {
    "s": "sec", "sec": "sec", "secs": "sec", "second": "sec", "seconds": "sec",
    "m": "min", "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    "h": "hour", "hr": "hour", "hour": "hour", "hours": "hour",
    "d": "day", "day": "day", "days": "day",
    "w": "week", "wk": "week", "week": "week", "weeks": "week",
    "mo": "month", "month": "month", "months": "month",
}
_BAR_TEXT = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")
_SHORT = {"sec": "s", "min": "m", "hour": "h", "day": "d", "week": "w", "month": "mo"}


def _ib_spelling(n: int, unit: str) -> str:
    if unit == "sec":
        return f"{n} secs"                       # IB writes "1 secs"
    return f"{n} {unit}s" if n > 1 else f"{n} {unit}"


def _short(size: str) -> str:
    n, unit = size.split()
    return n + _SHORT[_UNITS[unit]]


def _bar_size_error(text: object, sizes: tuple[str, ...], what: str) -> ValueError:
    listed = ", ".join(_short(s) for s in sizes)
    return ValueError(f"bar size {text!r} {what}; use one of {listed} (or IB's spelling, e.g. '5 mins')")


def bar_size(text: str) -> str:
    """IB's spelling of a bar size: ``"5m"``, ``"5 min"`` and ``"5 mins"`` all give ``"5 mins"``.

    ``ValueError`` (one line, the sizes in time order) for anything IB does not have, e.g. ``"7m"``.
    """
    m = _BAR_TEXT.fullmatch(text.lower()) if isinstance(text, str) else None
    unit = _UNITS.get(m.group(2)) if m else None
    size = _ib_spelling(int(m.group(1)), unit) if m and unit else None
    if size not in BAR_SECONDS:
        raise _bar_size_error(text, BAR_SIZES, "is not an IB bar size")
    return size


def live_bar_size(text: str) -> str:
    """Like :func:`bar_size`, limited to the sizes a live watcher can build from 5-second real-time bars."""
    size = bar_size(text) if isinstance(text, str) and _BAR_TEXT.fullmatch(text.lower()) else None
    if size not in LIVE_BAR_SIZES:
        raise _bar_size_error(text, LIVE_BAR_SIZES, "cannot be watched live (built from 5-second bars)")
    return size


def bar_seconds(size: str) -> int:
    """Seconds in a bar size (``"1 min"`` or ``"1m"`` -> 60; a month counts 30 days)."""
    return BAR_SECONDS[bar_size(size)]


_DURATION_TEXT = re.compile(r"\s*(\d+)\s*([SDWMY])\s*", re.IGNORECASE)
_UNIT_SECONDS = {"S": 1, "D": _DAY, "W": _WEEK, "M": _MONTH, "Y": 365 * _DAY}


def parse_duration(text: str) -> tuple[int, str]:
    """``"5 d"`` / ``"5D"`` -> ``(5, "D")``; ``ValueError`` for anything IB would not accept."""
    m = _DURATION_TEXT.fullmatch(text) if isinstance(text, str) else None
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"duration {text!r} is not like 3600 S, 5 D, 2 W, 1 M or 1 Y")
    return int(m.group(1)), m.group(2).upper()


def duration(text: str) -> str:
    """IB's spelling of a duration: ``"5d"`` -> ``"5 D"``."""
    number, unit = parse_duration(text)
    return f"{number} {unit}"


def duration_seconds(text: str) -> int:
    """``"5 D"`` -> 432000 (calendar seconds; M = 30 days, Y = 365 days)."""
    number, unit = parse_duration(text)
    return number * _UNIT_SECONDS[unit]


class BarAggregator:
    """Feed 5-second pieces in arrival order; ``add`` returns the bar a piece completed, else None."""

    __slots__ = ("_c", "_h", "_l", "_next", "_o", "_start", "_v", "_whole", "completed", "seconds")

    def __init__(self, seconds: int) -> None:
        if seconds % PIECE:
            raise ValueError(f"bar length {seconds}s is not a multiple of {PIECE}s")
        self.seconds = seconds
        self.reset()

    def reset(self) -> None:
        """Forget the bucket in progress (after a resubscribe its pieces may be missing)."""
        self._start: int | None = None
        self._next = 0
        self._o = self._h = self._l = self._c = 0.0
        self._v = 0.0
        self._whole = False
        self.completed: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def add(self, t: int, o: float, h: float, low: float, c: float, v: float) -> Bar | None:
        """Add the 5-second piece starting at POSIX second ``t``."""
        start = self.push(t, o, h, low, c, v)
        if start is None:
            return None
        return Bar(datetime.fromtimestamp(start, timezone.utc), *self.completed)

    def push(self, t: int, o: float, h: float, low: float, c: float, v: float) -> int | None:
        """Like ``add`` without building a ``Bar`` (hot loops): the start second of the bar this piece completed
        (its open, high, low, close, volume are then in ``completed``), else None."""
        start = t - t % self.seconds
        if start != self._start:
            self._start, self._whole = start, t == start     # joined at the bucket's first piece?
            self._o, self._h, self._l, self._c, self._v = o, h, low, c, v
        else:
            if t != self._next:                           # a piece went missing (or repeated): not exact any more
                self._whole = False
            if h > self._h:  # noqa: PLR1730  (not max(): a call per piece on the hot path)
                self._h = h
            if low < self._l:  # noqa: PLR1730
                self._l = low
            self._c = c
            self._v += v
        self._next = nxt = t + PIECE
        if self._whole and nxt == start + self.seconds:
            self._start = None
            self.completed = (self._o, self._h, self._l, self._c, self._v)
            return start
        return None


def whole_numbers(values):
    """``values`` (a pandas Series) as int64 when every value is a whole number, else unchanged.

    IB sends share volumes and quantities as floats (or Decimals); tables should show ``120100``, not ``120100.0``.
    Fractional ones (crypto volume, fractional shares) and gaps (NaN) keep the float column.
    """
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if arr.size and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return values.astype("int64")
    return values
