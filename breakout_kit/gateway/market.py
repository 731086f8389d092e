"""Deterministic synthetic market: 5-second TRADES bars as a pure function of (symbol, seed, day, plants).

Grid: every weekday has 11 520 five-second bars, 04:00-20:00 New York (regular hours 09:30-16:00 are
``RTH_SLICE``); weekends have none. A day is generated in one go from ``numpy.random.default_rng((seed, conId,
ordinal))``, so history and live read the same arrays and any span can be produced without state:

* the day's open comes from a slow per-symbol level curve plus independent daily noise (so consecutive days are
  near each other with realistic gaps); within the day a Brownian bridge leads towards the next day's open;
* per-bar volatility = U-shaped intraday profile x piecewise-constant volatility regimes (lognormal, ~20-40 min
  long) x a quieter pre/post market; returns are fat-tailed (Student t, 4 dof);
* volume follows the classic intraday smile (heavy open and close, thin lunch, thin extended hours), scales with
  the regime and with the size of the move; prices are whole cents.

Planted breakouts (scenarios for tests and demos): ``Market(plant_breakouts=True)`` (the default) plants, for
every symbol, one up-move 22-27 minutes after ``start`` that closes its 1-minute bar at least 0.2 % above the
highest high of the previous twenty 1-minute bars, so a 20-bar close breakout appears within the first 30
simulated minutes of live data. Plant more with::

    gw.market.plant_breakout("AAPL", at=datetime(2026, 11, 23, 10, 15, tzinfo=NY), size_pct=1.0)   # up 1 %+
    gw.market.plant_breakout("AAPL", at=..., size_pct=-1.0)                                          # down

``at`` is rounded down to its minute; the move takes that minute and clears the previous 20 minutes' range by at
least ``max(|size_pct|, 0.2 %)``; it shifts every later bar of the day. Plant before the affected bars are served.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from .clock import NEW_YORK
from .contracts import BY_SYMBOL, Instrument

BAR = 5                              # base bar length, seconds
DAY_OPEN_SEC = 4 * 3600              # 04:00 New York
DAY_BARS = 16 * 3600 // BAR          # 04:00-20:00
RTH_FIRST = (9 * 3600 + 1800 - DAY_OPEN_SEC) // BAR   # 09:30
RTH_END = (16 * 3600 - DAY_OPEN_SEC) // BAR           # 16:00 (exclusive)
RTH_SLICE = slice(RTH_FIRST, RTH_END)
MINUTE = 60 // BAR
_CACHE_DAYS = 160


@dataclass(frozen=True)
class Bar:
    """One aggregated bar: ``time`` is its start (POSIX seconds), prices in USD."""

    time: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    wap: float
    count: int

    @property
    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.time, NEW_YORK)


@dataclass
class DayBars:
    """One symbol-day of 5-second bars; prices in integer cents."""

    day: date
    t0: int                   # POSIX seconds of bar 0 (04:00 New York)
    o: np.ndarray
    h: np.ndarray
    low: np.ndarray
    c: np.ndarray
    v: np.ndarray
    _cum_v: np.ndarray | None = None

    def cum_volume(self) -> np.ndarray:
        """Volume of the day up to and including each bar."""
        if self._cum_v is None:
            self._cum_v = np.cumsum(self.v)
        return self._cum_v


@dataclass(frozen=True)
class Plant:
    index: int                # 5-second bar index of the move's first bar (minute aligned)
    size_pct: float           # signed; magnitude is the minimum clearance beyond the 20-minute range


def day_start_epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, 4, 0, tzinfo=NEW_YORK).timestamp())


def trading_day(d: date) -> bool:
    return d.weekday() < 5


class Market:
    """The synthetic market for one gateway. All prices are pure functions of (seed, symbol, day, plants)."""

    def __init__(self, seed: int = 0, start: datetime | None = None, plant_breakouts: bool = True):
        self.seed = int(seed)
        self.start = start
        self._plants: dict[tuple[str, date], list[Plant]] = {}
        self._cache: OrderedDict[tuple[str, date], DayBars] = OrderedDict()
        self._daily: dict[tuple[str, date, bool, str], Bar] = {}
        if plant_breakouts and start is not None:
            self._plant_defaults(start)

    # ---- scenarios ----------------------------------------------------------------------------------------
    def plant_breakout(self, symbol: str, at: datetime, size_pct: float = 0.5) -> datetime:
        """Force a 1-minute breakout starting at minute ``at`` (see module docstring); returns the minute's start.

        Positive ``size_pct`` breaks up, negative breaks down. Raises ValueError outside the trading grid.
        """
        inst = self.instrument(symbol)
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if not size_pct or not math.isfinite(size_pct):
            raise ValueError(f"size_pct must be a non-zero number, got {size_pct!r}")
        local = at.astimezone(NEW_YORK)
        d = local.date()
        idx = (int(local.timestamp()) - day_start_epoch(d)) // BAR
        idx -= idx % MINUTE
        if not trading_day(d) or not 0 <= idx <= DAY_BARS - MINUTE:
            raise ValueError(f"{at} is outside the trading grid (weekdays 04:00-20:00 New York)")
        plants = self._plants.setdefault((inst.symbol, d), [])
        plants.append(Plant(idx, float(size_pct)))
        plants.sort(key=lambda p: p.index)
        self._cache.pop((inst.symbol, d), None)
        for key in [k for k in self._daily if k[:2] == (inst.symbol, d)]:
            del self._daily[key]
        return datetime.fromtimestamp(day_start_epoch(d) + idx * BAR, NEW_YORK)

    def plants(self) -> list[tuple[str, date, int, float]]:
        """Every planted move as (symbol, day, 5-second bar index, size_pct): what the gateway's state file keeps."""
        return [(sym, d, p.index, p.size_pct) for (sym, d), ps in sorted(self._plants.items()) for p in ps]

    def replant(self, plants) -> None:
        """Replace every planted move with ``plants`` (as ``plants()`` returns them) and forget cached days."""
        self._plants = {}
        for sym, d, index, size_pct in plants:
            self._plants.setdefault((sym, d), []).append(Plant(int(index), float(size_pct)))
        for ps in self._plants.values():
            ps.sort(key=lambda p: p.index)
        self._cache.clear()
        self._daily.clear()

    def _plant_defaults(self, start: datetime) -> None:
        local = start.astimezone(NEW_YORK)
        d = local.date()
        if not trading_day(d):
            return
        first = math.ceil((local.timestamp() - day_start_epoch(d)) / 60.0)   # minutes after 04:00
        for inst in BY_SYMBOL.values():
            offset = 22 + (inst.con_id * 7 + self.seed * 13) % 6
            minute = first + offset
            if minute * MINUTE + MINUTE > DAY_BARS:
                continue
            plants = self._plants.setdefault((inst.symbol, d), [])
            plants.append(Plant(minute * MINUTE, 0.3))
            plants.sort(key=lambda p: p.index)

    # ---- lookups ---------------------------------------------------------------------------------------------
    @staticmethod
    def instrument(symbol: str) -> Instrument:
        try:
            return BY_SYMBOL[symbol.upper()]
        except (KeyError, AttributeError):
            raise ValueError(f"unknown symbol {symbol!r}") from None

    def day(self, symbol: str, d: date, cache: bool = True) -> DayBars | None:
        """The day's 5-second bars (None on weekends). Cached (LRU); ``cache=False`` neither reads nor fills the
        cache (a scan over the whole universe must not evict the days live subscriptions use)."""
        if not trading_day(d):
            return None
        key = (symbol, d)
        got = self._cache.get(key)
        if got is not None:
            self._cache.move_to_end(key)
            return got
        got = self._generate(self.instrument(symbol), d, self._plants.get(key, ()))
        if not cache:
            return got
        self._cache[key] = got
        if len(self._cache) > _CACHE_DAYS:
            self._cache.popitem(last=False)
        return got

    def day_open_cents(self, symbol: str, d: date) -> int:
        """The session's first 5-second open in cents (``day(symbol, d).o[0]``) without generating the day."""
        return round(math.exp(self._level(self.instrument(symbol), d)) * 100.0)

    def _level(self, inst: Instrument, d: date) -> float:
        """Log price at the open of day ``d``: a slow curve (period months..years) plus daily noise."""
        rng = np.random.default_rng((self.seed, inst.con_id, 0))
        phases = rng.uniform(0, 2 * np.pi, 3)
        amps = np.array([0.18, 0.08, 0.04]) * inst.vol / 0.3
        periods = np.array([700.0, 180.0, 45.0])
        n = d.toordinal()
        slow = float(np.sum(amps * np.sin(2 * np.pi * n / periods + phases)))
        daily_sd = inst.vol / math.sqrt(252)
        noise = np.random.default_rng((self.seed, inst.con_id, n, 1)).standard_normal() * daily_sd * 0.7
        return math.log(inst.price) + slow + noise

    def _generate(self, inst: Instrument, d: date, plants) -> DayBars:
        rng = np.random.default_rng((self.seed, inst.con_id, d.toordinal()))
        n = DAY_BARS
        daily_sd = inst.vol / math.sqrt(252)
        x = np.arange(n)
        # intraday volatility profile: U shape in regular hours, quieter outside
        profile = np.full(n, 0.35)
        f = (x[RTH_SLICE] - RTH_FIRST) / (RTH_END - RTH_FIRST)
        profile[RTH_SLICE] = 0.8 + 1.6 * np.exp(-f / 0.06) + 0.7 * np.exp(-(1 - f) / 0.08)
        # volatility regimes: piecewise constant over random 20-40 minute blocks
        regime = np.empty(n)
        pos = 0
        while pos < n:
            length = int(rng.integers(240, 480))
            regime[pos:pos + length] = math.exp(rng.normal(0.0, 0.35))
            pos += length
        sig = profile * regime
        sig *= daily_sd / math.sqrt(np.sum(sig[RTH_SLICE] ** 2))
        shocks = rng.standard_t(4, n) / math.sqrt(2.0)          # unit variance
        steps = shocks * sig
        walk = np.cumsum(steps)
        log_open = self._level(inst, d)
        next_open = self._level(inst, d + timedelta(days=1))
        target = next_open - log_open + rng.normal(0.0, daily_sd * 0.3)
        frac = (x + 1) / n
        path = log_open + walk - frac * walk[-1] + frac * target
        wick_hi = np.abs(rng.standard_normal(n)) * sig * 0.6
        wick_lo = np.abs(rng.standard_normal(n)) * sig * 0.6
        # volume: smile x regime x move size x noise, scaled to about the average daily volume
        smile = np.full(n, 0.04)
        smile[RTH_SLICE] = 1.0 + 3.0 * np.exp(-f / 0.05) + 2.2 * np.exp(-(1 - f) / 0.05)
        vol_w = smile * regime ** 0.8 * (0.6 + 0.4 * np.abs(shocks)) * rng.lognormal(0.0, 0.35, n)
        vol_w *= inst.adv * math.exp(rng.normal(0.0, 0.2)) / np.sum(vol_w[RTH_SLICE])
        volume = np.maximum(1, np.rint(vol_w / 100.0)).astype(np.int64) * 100
        for p in plants:
            path, volume = _apply_plant(path, volume, wick_hi, wick_lo, log_open, p)
        o, h, low, c = _ohlc_cents(path, wick_hi, wick_lo, log_open)
        return DayBars(d, day_start_epoch(d), o, h, low, c, volume)

    # ---- reading -----------------------------------------------------------------------------------------------
    def base(self, symbol: str, t0: float, t1: float, use_rth: bool = False):
        """Yield (DayBars, lo, hi) index ranges of 5-second bars with start in [t0, t1)."""
        if t1 <= t0:
            return
        d = datetime.fromtimestamp(t0, NEW_YORK).date()
        last = datetime.fromtimestamp(t1, NEW_YORK).date()
        while d <= last:
            db = self.day(symbol, d)
            if db is not None:
                lo = max(0, math.ceil((t0 - db.t0) / BAR))
                hi = min(DAY_BARS, math.ceil((t1 - db.t0) / BAR))
                if use_rth:
                    lo, hi = max(lo, RTH_FIRST), min(hi, RTH_END)
                if hi > lo:
                    yield db, lo, hi
            d += timedelta(days=1)

    def bars(self, symbol: str, bar_seconds: int, t0: float, t1: float, use_rth: bool = False,
             what: str = "TRADES") -> list[Bar]:
        """Aggregated bars whose 5-second components start in [t0, t1). ``bar_seconds`` is a multiple of 5 or
        86400 (one bar per trading day). Labels: the start of the first 5-second bar in each bucket."""
        out: list[Bar] = []
        if bar_seconds >= 86400:
            return self._daily_bars(symbol, t0, t1, use_rth, what)
        for db, lo, hi in self.base(symbol, t0, t1, use_rth):
            out += aggregate(db, lo, hi, bar_seconds, what)
        return out

    def _daily_bars(self, symbol: str, t0: float, t1: float, use_rth: bool, what: str) -> list[Bar]:
        # Whole-day bars are cached, so long daily histories generate each day once per gateway.
        first, end = (RTH_FIRST, RTH_END) if use_rth else (0, DAY_BARS)
        out: list[Bar] = []
        d = datetime.fromtimestamp(t0, NEW_YORK).date()
        last = datetime.fromtimestamp(t1, NEW_YORK).date()
        while d <= last:
            if trading_day(d):
                e0 = day_start_epoch(d)
                whole = t0 <= e0 + first * BAR and e0 + end * BAR <= t1
                key = (symbol, d, use_rth, what)
                bar = self._daily.get(key) if whole else None
                if bar is None:
                    for db, lo, hi in self.base(symbol, max(t0, e0), min(t1, e0 + DAY_BARS * BAR), use_rth):
                        bars = aggregate(db, lo, hi, 86400, what)
                        bar = bars[0]
                        if whole:
                            self._daily[key] = bar
                if bar is not None:
                    out.append(bar)
            d += timedelta(days=1)
        return out

    def last_bar(self, symbol: str, t: float) -> tuple[DayBars, int] | None:
        """The latest 5-second bar completed by time ``t`` (searching back up to 10 days)."""
        d = datetime.fromtimestamp(t, NEW_YORK).date()
        for _ in range(10):
            db = self.day(symbol, d)
            if db is not None:
                i = min(DAY_BARS, int((t - db.t0) // BAR)) - 1
                if i >= 0:
                    return db, i
            d -= timedelta(days=1)
        return None


def _apply_plant(path, volume, wick_hi, wick_lo, log_open, p: Plant):
    i0 = p.index
    i1 = i0 + MINUTE
    lo = max(0, i0 - 20 * MINUTE)
    up = p.size_pct > 0
    if i0 > lo:
        prev_close = np.concatenate(([log_open], path[:-1]))
        seg = slice(lo, i0)
        if up:
            edge = float(np.max(np.maximum(prev_close[seg], path[seg] + wick_hi[seg])))
        else:
            edge = float(np.min(np.minimum(prev_close[seg], path[seg] - wick_lo[seg])))
    else:
        edge = path[i0 - 1] if i0 else log_open
    pct = max(abs(p.size_pct), 0.2) / 100.0
    # up: close >= edge * (1 + pct); down: close <= edge * (1 - pct)   (before rounding to cents)
    want = edge + math.log1p(pct) if up else edge + math.log1p(-min(pct, 0.5))
    shift = want - path[i1 - 1]
    shift = max(shift, 0.0) if up else min(shift, 0.0)
    ramp = np.linspace(1.0 / MINUTE, 1.0, MINUTE)
    path = path.copy()
    path[i0:i1] += shift * ramp
    path[i1:] += shift
    volume = volume.copy()
    volume[i0:i1 + MINUTE] *= 3
    return path, volume


def _ohlc_cents(path, wick_hi, wick_lo, log_open):
    c = np.rint(np.exp(path) * 100.0).astype(np.int64)
    o = np.empty_like(c)
    o[0] = round(math.exp(log_open) * 100.0)
    o[1:] = c[:-1]
    top = np.maximum(o, c)
    bot = np.minimum(o, c)
    h = np.maximum(top, np.rint(np.exp(path + wick_hi) * 100.0).astype(np.int64))
    low = np.minimum(bot, np.rint(np.exp(path - wick_lo) * 100.0).astype(np.int64))
    low = np.maximum(low, 1)
    return o, h, low, c


def bucket_ids(db: DayBars, lo: int, hi: int, bar_seconds: int) -> np.ndarray:
    """Bucket number (seconds since midnight // bar size) of each 5-second bar in [lo, hi)."""
    if bar_seconds >= 86400:
        return np.zeros(hi - lo, dtype=np.int64)
    return (DAY_OPEN_SEC + np.arange(lo, hi, dtype=np.int64) * BAR) // bar_seconds


def aggregate(db: DayBars, lo: int, hi: int, bar_seconds: int, what: str = "TRADES") -> list[Bar]:
    """OHLCV aggregation of bars [lo, hi) of one day into ``bar_seconds`` buckets aligned to midnight."""
    ids = bucket_ids(db, lo, hi, bar_seconds)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    o = db.o[lo:hi]
    h = db.h[lo:hi]
    low = db.low[lo:hi]
    c = db.c[lo:hi]
    v = db.v[lo:hi]
    bo = o[starts]
    bh = np.maximum.reduceat(h, starts)
    bl = np.minimum.reduceat(low, starts)
    bc = c[ends - 1]
    bv = np.add.reduceat(v, starts)
    typical = (h + low + c) / 3.0
    pv = np.add.reduceat(typical * v, starts)
    counts = np.add.reduceat(np.maximum(1, v // 100), starts)
    times = (db.t0 + (lo + starts) * BAR).tolist()
    if bar_seconds >= 86400:
        times = [int(datetime(db.day.year, db.day.month, db.day.day, tzinfo=NEW_YORK).timestamp())]
    bo, bh, bl, bc, bv = bo.tolist(), bh.tolist(), bl.tolist(), bc.tolist(), bv.tolist()
    if what == "TRADES":
        pv, counts = pv.tolist(), counts.tolist()
        return [Bar(times[k], bo[k] / 100, bh[k] / 100, bl[k] / 100, bc[k] / 100, bv[k],
                    round(pv[k] / bv[k]) / 100, counts[k]) for k in range(len(times))]
    out = []
    for k in range(len(times)):
        half = half_spread_cents(bc[k])
        shift = {"BID": -half, "ASK": half}.get(what, 0)
        out.append(Bar(times[k], (bo[k] + shift) / 100, (bh[k] + shift) / 100, (bl[k] + shift) / 100,
                       (bc[k] + shift) / 100, -1, -1.0, -1))
    return out


def bar5(db: DayBars, i: int, what: str = "TRADES") -> Bar:
    """The single 5-second bar ``i`` (fast path for live streaming; equal to ``aggregate(db, i, i + 1, 5)``)."""
    o, h, low, c, v = int(db.o[i]), int(db.h[i]), int(db.low[i]), int(db.c[i]), int(db.v[i])
    t = db.t0 + i * BAR
    if what == "TRADES":
        return Bar(t, o / 100, h / 100, low / 100, c / 100, v, round((h + low + c) / 3.0 * v / v) / 100,
                   max(1, v // 100))
    half = half_spread_cents(c)
    shift = -half if what == "BID" else half if what == "ASK" else 0
    return Bar(t, (o + shift) / 100, (h + shift) / 100, (low + shift) / 100, (c + shift) / 100, -1, -1.0, -1)


def half_spread_cents(price_cents: int) -> int:
    """Half the quoted spread: one basis point, at least a cent."""
    return max(1, round(price_cents * 0.0001))
