"""Client-side pacing for IB historical-data requests: wait our turn instead of earning error 162.

IB's published limits ("Pacing Violations for Small Bars", TWS API docs): for bars of 30 seconds or less, no identical
request within 15 s, at most 5 requests for the same contract and ``whatToShow`` within 2 s, at most 60 requests in
any 10 minutes, a BID_ASK request counting twice; for every bar size, at most 50 open requests. Larger bars have no
hard pacing rule (IB may throttle them softly, answering more slowly), so only the open-request cap applies to them.
``speed`` scales the windows for a server whose clock runs faster than real time (the embedded gateway's ``speed``);
it is 1 for TWS / IB Gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Hashable

IDENTICAL_WINDOW = 15.0
SAME_CONTRACT_WINDOW, SAME_CONTRACT_MAX = 2.0, 5
TEN_MINUTES, TEN_MINUTE_MAX = 600.0, 60
MAX_OPEN = 50
# Keep clear of each window's edge by this many real seconds: the request reaches the server a little after we
# send it, and a server clock running ``speed`` times faster magnifies that jitter.
MARGIN = 0.01


class HistoryPacer:
    """Admits historical requests at the fastest rate IB's pacing rules allow.

    ``async with pacer.slot(identity, contract_key):`` waits until the request may go out, then counts it as open
    for the duration of the block. ``identity`` identifies a request exactly (contract, end, duration, bar size,
    what, RTH); ``contract_key`` the contract and ``whatToShow``.
    """

    def __init__(self, speed: float = 1.0, clock: Callable[[], float] | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"pacing speed must be positive, got {speed!r}")
        self.speed = float(speed)
        self._clock = clock
        self._recent: deque[tuple[float, Hashable, Hashable]] = deque()
        self._open_slots = asyncio.Semaphore(MAX_OPEN)
        self._lock = asyncio.Lock()
        self._open: dict[int, tuple] = {}   # id(entry) -> entry, for requests not answered yet
        self.waited = 0.0          #: total seconds spent waiting for pacing (for reports/benchmarks)
        self.requests = 0          #: requests admitted

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def delay(self, identity: Hashable, contract_key: Hashable, small: bool = True, weight: int = 1) -> float:
        """Seconds (real time) until a request with these keys would respect every rule; 0 if it may go now.

        A request still in flight counts as made *now*: the server stamps it on arrival, which may be any time up
        to its reply, so dating it by our send would let the next request undercut the server's window.
        """
        if not small:
            return 0.0               # only the 50-open cap (the semaphore) holds bars over 30 seconds
        now, s = self._now(), self.speed
        recent = self._recent
        while recent and now - recent[0][0] > TEN_MINUTES / s and id(recent[0]) not in self._open:
            recent.popleft()
        stamped = [(now if id(e) in self._open else e[0], e[1], e[2]) for e in recent]
        waits = [0.0]
        for t, key, _ in stamped:
            if key == identity:
                waits.append(t + IDENTICAL_WINDOW / s - now)
        same = sorted(t for t, _, ck in stamped if ck == contract_key and now - t < SAME_CONTRACT_WINDOW / s)
        if len(same) + weight > SAME_CONTRACT_MAX:
            waits.append(same[-(SAME_CONTRACT_MAX + 1 - weight)] + SAME_CONTRACT_WINDOW / s - now)
        if len(stamped) + weight > TEN_MINUTE_MAX:
            times = sorted(t for t, _, _ in stamped)
            waits.append(times[-(TEN_MINUTE_MAX + 1 - weight)] + TEN_MINUTES / s - now)
        wait = max(waits)
        return wait + MARGIN if wait > 0 else 0.0

    @contextlib.asynccontextmanager
    async def slot(self, identity: Hashable, contract_key: Hashable, *, small: bool = True, weight: int = 1):
        """``small``: bars of 30 seconds or less (the three pacing rules apply); ``weight``: 2 for BID_ASK."""
        async with self._open_slots:
            entries: list[tuple] = []
            async with self._lock:              # one admission at a time keeps the bookkeeping exact
                while (wait := self.delay(identity, contract_key, small, weight)) > 0:
                    self.waited += wait
                    await asyncio.sleep(wait)   # rate limiting: a computed wait, not polling for data
                if small:
                    entries = [(self._now(), identity, contract_key) for _ in range(weight)]
                for entry in entries:
                    self._recent.append(entry)
                    self._open[id(entry)] = entry
                self.requests += 1
            try:
                yield
            finally:
                for entry in entries:
                    del self._open[id(entry)]
                    self._restamp(entry)

    def _restamp(self, entry: tuple) -> None:
        """Date a finished request by its reply. The server stamped it somewhere between our send and its reply,
        so windows counted from the reply never undercut the server's, however the delivery delays vary (a busy
        server that reads request 1 late would otherwise see request 61 inside its 10 minutes)."""
        try:
            self._recent.remove(entry)
        except ValueError:           # already out of every window
            return
        self._recent.append((self._now(), *entry[1:]))   # the latest time: the deque stays in time order
