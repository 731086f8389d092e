"""IB's historical-data pacing rules, measured on the gateway clock (so they scale with ``speed``).

A request violates pacing when (IB's published limits, "Pacing Violations for Small Bars"), for bars of 30 seconds
or less:
* an identical request (same contract, end, duration, bar size, what, RTH flag) was made within 15 s;
* it is the 6th or later request for the same contract and ``whatToShow`` within 2 s;
* more than 60 requests were made in the last 10 minutes;
(a BID_ASK request counts twice), and for every bar size when more than 50 requests are open (keepUpToDate
subscriptions stay open until cancelled). Larger bars have no hard pacing rule at IB.
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
SMALL_BAR_SECONDS = 30     # the three rules apply to bars of this size or smaller


class Pacer:
    """Tracks historical requests gateway-wide and decides whether the next one is allowed."""

    def __init__(self, clock: GatewayClock, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._recent: deque[tuple[float, tuple, tuple]] = deque()   # (time, identity key, contract key)
        self.open_requests = 0

    def check(self, identity: tuple, contract_key: tuple) -> str | None:
        """Register a request; return None if allowed, else the reason it violates pacing.

        ``identity`` is (conId, end, duration, bar seconds, what, RTH, keepUpToDate); ``contract_key`` (conId,
        what): the bar size says whether the small-bar rules apply, ``what`` whether it counts twice."""
        now = self.clock.epoch()
        recent = self._recent
        while recent and now - recent[0][0] > TEN_MINUTES:
            recent.popleft()
        if not self.enabled:
            return None
        small = identity[3] <= SMALL_BAR_SECONDS
        weight = 2 if contract_key[1] == "BID_ASK" else 1
        reason = None
        if self.open_requests >= MAX_OPEN:
            reason = "more than 50 open requests"
        elif not small:
            return None
        elif any(key == identity and now - t < IDENTICAL_WINDOW for t, key, _ in recent):
            reason = "identical request within 15 seconds"
        elif sum(1 for t, _, ck in recent if ck == contract_key and now - t < SAME_CONTRACT_WINDOW) + weight \
                > SAME_CONTRACT_MAX:
            reason = "6 or more requests for the same contract within 2 seconds"
        elif len(recent) + weight > TEN_MINUTE_MAX:
            reason = "more than 60 requests within 10 minutes"
        if reason is None:
            recent.extend([(now, identity, contract_key)] * weight)
        return reason
