"""IB's historical-data pacing rules, measured on the gateway clock (so they scale with ``speed``).

A request violates pacing when (IB's published limits):
* an identical request (same contract, end, duration, bar size, what, RTH flag) was made within 15 s;
* it is the 6th or later request for the same contract and ``whatToShow`` within 2 s;
* more than 60 requests were made in the last 10 minutes;
* more than 50 requests are open (keepUpToDate subscriptions stay open until cancelled).
Violations answer error 162 and are not counted as requests. ``enabled=False`` (pacing="off") allows everything.
"""

from __future__ import annotations

from collections import deque

from .clock import GatewayClock

PACING_MESSAGE = "Historical Market Data Service error message:Historical data request pacing violation"
IDENTICAL_WINDOW = 15.0
SAME_CONTRACT_WINDOW, SAME_CONTRACT_MAX = 2.0, 5
TEN_MINUTES, TEN_MINUTE_MAX = 600.0, 60
MAX_OPEN = 50


class Pacer:
    """Tracks historical requests gateway-wide and decides whether the next one is allowed."""

    def __init__(self, clock: GatewayClock, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._recent: deque[tuple[float, tuple, tuple]] = deque()   # (time, identity key, contract key)
        self.open_requests = 0

    def check(self, identity: tuple, contract_key: tuple) -> str | None:
        """Register a request; return None if allowed, else the reason it violates pacing."""
        now = self.clock.epoch()
        recent = self._recent
        while recent and now - recent[0][0] > TEN_MINUTES:
            recent.popleft()
        if not self.enabled:
            return None
        reason = None
        if any(key == identity and now - t < IDENTICAL_WINDOW for t, key, _ in recent):
            reason = "identical request within 15 seconds"
        elif sum(1 for t, _, ck in recent if ck == contract_key and now - t < SAME_CONTRACT_WINDOW) \
                >= SAME_CONTRACT_MAX:
            reason = "6 or more requests for the same contract within 2 seconds"
        elif len(recent) >= TEN_MINUTE_MAX:
            reason = "more than 60 requests within 10 minutes"
        elif self.open_requests >= MAX_OPEN:
            reason = "more than 50 open requests"
        if reason is None:
            recent.append((now, identity, contract_key))
        return reason
