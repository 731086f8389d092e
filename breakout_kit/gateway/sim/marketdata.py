"""Live market data: the subscriptions (real-time bars, keepUpToDate history, streaming ticks) and the one
scheduler that serves them.

Live data is driven by ONE scheduler task per gateway that sleeps until the next 5-second boundary of the
gateway clock and then serves every subscription (catching up on any boundaries it missed). Bars are the market's
pure-function bars, so a bar seen live equals the same bar fetched later.

What history answers (bar sizes, durations, whatToShow, dates, TWS's refusals) lives in ``history.py`` (the model:
a decoded request in, messages or a refusal out); the requests are decoded in ``wire/marketdata_requests.py``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from .clock import NEW_YORK
from .clock_task import ClockTask
from .history import (
    duration_start,
    format_bar_time,
    parse_end,
)
from .market import (
    BAR,
    DAY_OPEN_SEC,
    aggregate,
    bar5,
    half_spread,
)
from .outbound import Client

if TYPE_CHECKING:
    from ..server import PaperGateway

log = logging.getLogger("breakout_kit.gateway")

MAX_BATCH = 64            # boundaries served per scheduler turn before yielding to the loop
ERR_MAX_TICKERS = "Max number of tickers has been reached"
#: what real-time bars (reqRealTimeBars) offer
REALTIME_WHAT = ("TRADES", "MIDPOINT", "BID", "ASK")


def bucket_start(epoch: int, bar_seconds: int) -> int:
    """Start of the bar bucket (aligned to New York midnight) containing ``epoch``."""
    local = datetime.fromtimestamp(epoch, NEW_YORK)
    midnight = int(datetime(local.year, local.month, local.day, tzinfo=NEW_YORK).timestamp())
    if bar_seconds >= 86400:
        return midnight
    return midnight + (epoch - midnight) // bar_seconds * bar_seconds


@dataclass(eq=False)
class Sub:
    """A live subscription of one session."""

    kind: str                 # "rt" | "kutd" | "mkt"
    session: Client
    req_id: int
    symbol: str
    what: str = "TRADES"
    use_rth: bool = False
    bar_seconds: int = 5
    fmt: int = 1
    last_sent: tuple = field(default=())


class MarketData(ClockTask):
    """Per-gateway live subscriptions and the single scheduler task that serves them."""

    task_name = "paper-gateway-scheduler"

    def __init__(self, gateway: PaperGateway) -> None:
        super().__init__()
        self.gw = gateway
        self.subs: dict[tuple[int, str, int], Sub] = {}      # (id(session), kind-group, reqId) -> Sub
        self.boundaries_served = 0
        self.max_lag = 0.0        # worst lateness of a boundary, simulated seconds
        self.failures = 0

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def aclose(self) -> None:
        self.subs.clear()
        await super().aclose()

    def add(self, sub: Sub) -> None:
        self.subs[(id(sub.session), "hist" if sub.kind == "kutd" else sub.kind, sub.req_id)] = sub
        if sub.kind == "kutd":
            self.gw.pacing.open_requests += 1
        self.wake()

    def remove(self, session: Client, group: str, req_id: int) -> Sub | None:
        sub = self.subs.pop((id(session), group, req_id), None)
        if sub is not None and sub.kind == "kutd":
            self.gw.pacing.open_requests -= 1
        return sub

    def lines_used(self, session: Client) -> int:
        return sum(1 for s in self.subs.values() if s.session is session and s.kind in ("rt", "mkt"))

    def drop_session(self, session: Client) -> None:
        for key in [k for k, s in self.subs.items() if s.session is session]:
            self.remove(session, key[1], key[2])

    # ---- scheduler ----------------------------------------------------------------------------------------
    async def _run(self) -> None:
        clock = self.gw.clock
        assert self._wake is not None
        nxt = None
        while True:
            if not self.subs:
                await self._idle()
                nxt = None
            if nxt is None:
                nxt = (math.floor(clock.epoch() / BAR) + 1) * BAR
            self._wake.clear()
            now = clock.epoch()
            if nxt > now:
                await self._wait_until(nxt)      # a new subscription wakes it early: it just waits again
                continue
            batch = 0
            while nxt <= now + 1e-6 and self.subs:
                self.max_lag = max(self.max_lag, now - nxt)
                try:
                    self._serve_boundary(int(nxt))
                except Exception:
                    self.failures += 1
                    if self.failures == 1 or self.failures % 1000 == 0:   # don't flood the log every 5 s
                        log.exception("live data at %s failed (%d failures so far)", nxt, self.failures)
                self.boundaries_served += 1
                nxt += BAR
                batch += 1
                if batch >= MAX_BATCH:
                    # running behind (very high speed): let clients and requests in before catching up further
                    await asyncio.sleep(0)
                    batch = 0
                    now = clock.epoch()

    def _serve_boundary(self, boundary: int) -> None:
        """Serve everything that became known when the 5-second bar [boundary-5, boundary) completed."""
        market = self.gw.market
        start = boundary - BAR
        cache: dict[str, tuple | None] = {}
        five: dict[str, dict] = {}
        for sub in list(self.subs.values()):
            if sub.session.closed:
                continue
            bars = five.setdefault(sub.symbol, {})
            if sub.symbol not in cache:
                cache[sub.symbol] = market.bar_at(sub.symbol, start)
            got = cache[sub.symbol]
            if got is None:
                continue
            db, i = got
            if sub.use_rth and not db.rth_lo <= i < db.rth_hi:
                continue
            if sub.kind == "rt":
                b = bars.get(sub.what)
                if b is None:
                    b = bars[sub.what] = bar5(db, i, sub.what)
                sub.session.send(50, 3, sub.req_id, b.time, b.open, b.high, b.low, b.close, b.volume, b.wap,
                                 b.count)
            elif sub.kind == "kutd":
                b0 = bucket_start(start, sub.bar_seconds)
                lo = max(0, math.ceil((b0 - db.t0) / BAR))
                if sub.use_rth:
                    lo = max(lo, db.rth_lo)
                b = aggregate(db, lo, i + 1, sub.bar_seconds, sub.what)[-1]
                sub.session.send(90, sub.req_id, b.count, format_bar_time(b.time, sub.bar_seconds, sub.fmt),
                                 b.open, b.close, b.high, b.low, b.wap, b.volume)
            else:
                send_ticks(sub.session, sub.req_id, db, i, full=False)


def send_ticks(session: Client, req_id: int, db, i: int, full: bool, prev_close: float | None = None) -> None:
    """Quote/trade ticks consistent with 5-second bar ``i`` of ``db``: last = its close, bid/ask one basis
    point around it, volume = the day's volume so far."""
    c = int(db.c[i])
    half = half_spread(db, c)
    unit = db.scale
    seed = (c * 31 + i * 17) % 97
    bid_size, ask_size, last_size = 100 * (1 + seed % 9), 100 * (1 + (seed // 9) % 9), 100 * (1 + seed % 5)
    send = session.send
    send(1, 6, req_id, 1, (c - half) / unit, bid_size, 0)
    send(1, 6, req_id, 2, (c + half) / unit, ask_size, 0)
    if not db.forex:                       # IDEALPRO quotes only: no last trade, no volume
        send(1, 6, req_id, 4, c / unit, last_size, 0)
        send(2, 6, req_id, 8, int(db.cum_volume()[i]))
    send(46, 6, req_id, 45, str(db.t0 + (i + 1) * BAR))
    if full:
        send(1, 6, req_id, 6, int(db.h[: i + 1].max()) / unit, 0, 0)
        send(1, 6, req_id, 7, int(db.low[: i + 1].min()) / unit, 0, 0)
        send(1, 6, req_id, 14, int(db.o[0]) / unit, 0, 0)
        if prev_close is not None:
            send(1, 6, req_id, 9, prev_close, 0, 0)


def _prev_close(gw: PaperGateway, symbol: str, d: date) -> float | None:
    for k in range(1, 8):
        db = gw.market.day(symbol, d - timedelta(days=k))
        if db is not None:
            return int(db.c[db.rth_hi - 1]) / db.scale
    return None


__all__ = ["DAY_OPEN_SEC", "MarketData", "Sub", "bucket_start", "duration_start", "format_bar_time", "parse_end"]
