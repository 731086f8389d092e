"""The gateway's accelerated clock: ``speed`` simulated seconds pass per real (event-loop) second from ``start``.

Everything time-dependent in the gateway (bar timing, reqCurrentTime, the end of history, pacing) reads this clock.
Before ``run()`` is called the clock stands still at ``start``.

Default start (``start=None``): the most recent NYSE session open (09:30 New York; holidays skipped, from
``core.calendar``) on or before today's New York date. It changes once a day, so runs on one day see the same market for the same seed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from ...core import calendar

NEW_YORK = ZoneInfo("America/New_York")
SESSION_OPEN_TIME = time(9, 30)


def default_start(today: datetime | None = None) -> datetime:
    """The most recent NYSE session's 09:30 New York on or before ``today`` (default: now)."""
    now = (today or datetime.now(timezone.utc)).astimezone(NEW_YORK)
    day = now.date()
    if not calendar.is_session(day):
        day = calendar.previous_session(day)
    return datetime.combine(day, SESSION_OPEN_TIME, tzinfo=NEW_YORK)


def parse_start(value: datetime | str | None) -> datetime:
    """Accept an aware datetime, an ISO string (naive means New York) or None (see ``default_start``)."""
    if value is None:
        return default_start()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"start must be an ISO datetime like 2026-11-23T09:30, got {value!r}") from None
    if not isinstance(value, datetime):
        raise TypeError(f"start must be a datetime, ISO string or None, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=NEW_YORK)
    return value


class GatewayClock:
    """Maps event-loop time to simulated epoch seconds: ``sim = origin + (loop.time() - t0) * speed``.

    ``origin`` is ``start`` for a new gateway; a gateway restored from its state file resumes at the saved clock
    position (``at``, POSIX seconds) while ``start`` stays the market's original start.
    """

    def __init__(self, start: datetime, speed: float, at: float | None = None) -> None:
        if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not speed > 0:
            raise ValueError(f"speed must be a positive number of simulated seconds per second, got {speed!r}")
        self.start = start
        self.start_epoch = start.timestamp() if at is None else float(at)     # the origin (see above)
        self.speed = float(speed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0

    def run(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the clock on ``loop`` (idempotent)."""
        if self._loop is None:
            self._loop = loop
            self._t0 = loop.time()

    @property
    def running(self) -> bool:
        return self._loop is not None

    def epoch(self) -> float:
        """Simulated time as POSIX seconds."""
        if self._loop is None:
            return self.start_epoch
        return self.start_epoch + (self._loop.time() - self._t0) * self.speed

    def now(self) -> datetime:
        """Simulated time as an aware datetime in New York."""
        return datetime.fromtimestamp(self.epoch(), NEW_YORK)

    def loop_time_at(self, epoch: float) -> float:
        """The event-loop time at which the simulated clock reaches ``epoch``."""
        return self._t0 + (epoch - self.start_epoch) / self.speed
