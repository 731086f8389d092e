"""Build complete ``bar_size`` bars from IB's 5-second real-time bars (sans-I/O).

A bucket counts as complete only when every 5-second piece of it arrived, in order; a bucket the stream joined late
(subscription started mid-bucket, or a gap after a reconnect) is dropped, and the watcher fills it from history.
That way a bar built here is identical to IB's historical bar for the same span.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .breakout import Bar

PIECE = 5  # IB real-time bars are always 5 seconds

#: IB bar size strings a live watcher supports -> seconds
BAR_SECONDS = {
    "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30,
    "1 min": 60, "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200,
    "30 mins": 1800, "1 hour": 3600,
}


def bar_seconds(bar_size: str) -> int:
    """Seconds in an IB bar size string (``"1 min"`` -> 60); ValueError for sizes a live watcher can't build."""
    try:
        return BAR_SECONDS[bar_size]
    except (KeyError, TypeError):
        raise ValueError(f"bar_size {bar_size!r} is not one of {', '.join(BAR_SECONDS)}") from None


class BarAggregator:
    """Feed 5-second pieces in arrival order; ``add`` returns the bar a piece completed, else None."""

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

    def add(self, t: int, o: float, h: float, low: float, c: float, v: float) -> Bar | None:
        """Add the 5-second piece starting at POSIX second ``t``."""
        start = t - t % self.seconds
        if start != self._start:
            self._start, self._whole = start, t == start     # joined at the bucket's first piece?
            self._o, self._h, self._l, self._c, self._v = o, h, low, c, v
        else:
            if t != self._next:                           # a piece went missing (or repeated): not exact any more
                self._whole = False
            self._h = max(self._h, h)
            self._l = min(self._l, low)
            self._c = c
            self._v += v
        self._next = t + PIECE
        if self._whole and self._next == start + self.seconds:
            self._start = None
            return Bar(datetime.fromtimestamp(start, timezone.utc), self._o, self._h, self._l, self._c, self._v)
        return None
