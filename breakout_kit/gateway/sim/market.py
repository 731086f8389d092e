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
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np

from ...core import calendar, trading_hours
from .clock import NEW_YORK
from .universe import Instrument, universe

BAR = 5                              # base bar length, seconds
DAY_OPEN_SEC = 4 * 3600              # 04:00 New York
DAY_BARS = 16 * 3600 // BAR          # 04:00-20:00
RTH_FIRST = (9 * 3600 + 1800 - DAY_OPEN_SEC) // BAR   # 09:30
RTH_END = (16 * 3600 - DAY_OPEN_SEC) // BAR           # 16:00 (exclusive)
RTH_SLICE = slice(RTH_FIRST, RTH_END)
EARLY_RTH_END = (13 * 3600 - DAY_OPEN_SEC) // BAR     # 13:00 on early-close days
EARLY_DAY_END = (17 * 3600 - DAY_OPEN_SEC) // BAR     # the extended session then ends at 17:00
MINUTE = 60 // BAR
WEEK = 7 * 86400                     # "1 week" bars: one per calendar week (Monday-Sunday) with sessions
MONTH = 30 * 86400                   # "1 month" bars: one per calendar month with sessions
_CACHE_DAYS = 160
_CLOSED_MAX = 4096


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


@dataclass(frozen=True)
class Grid:
    """One instrument-day's 5-second grid: bars [0, end) exist; [rth_lo, rth_hi) are regular trading hours."""

    t0: int                   # POSIX seconds of bar 0 (04:00 New York for stocks; see ``grid`` for the others)
    n: int                    # bars generated (the full-day grid; bars >= end do not trade)
    end: int
    rth_lo: int
    rth_hi: int


def grid(inst: Instrument, d: date) -> Grid | None:
    """The day's grid, or None when the instrument does not trade on ``d`` (weekend, holiday, expired future).

    Stocks: 04:00-20:00 New York, regular hours 09:30-16:00; on NYSE early-close days regular hours end at 13:00 and
    the extended session at 17:00. Other kinds follow ``core.trading_hours``: indexes 09:30 to the NYSE close;
    futures (CME Globex) 18:00 the day before to 17:00, regular 09:30-16:15, until their last trade date; forex
    (IDEALPRO) 17:15 the day before to 17:00 on weekdays, not closed on NYSE holidays.
    """
    if not inst.is_stock:
        if inst.is_future and f"{d:%Y%m%d}" > inst.expiry:
            return None
        whole = trading_hours.session_window(inst.kind, d)
        if whole is None:
            return None
        regular = trading_hours.regular_window(inst.kind, d)
        t0, t1 = int(whole[0].timestamp()), int(whole[1].timestamp())
        n = (t1 - t0) // BAR
        return Grid(t0, n, n, (int(regular[0].timestamp()) - t0) // BAR, (int(regular[1].timestamp()) - t0) // BAR)
    close = calendar.session_close(d)
    if close is None:
        return None
    if close == calendar.CLOSE:
        return Grid(day_start_epoch(d), DAY_BARS, DAY_BARS, RTH_FIRST, RTH_END)
    rth_hi = (close.hour * 3600 + close.minute * 60 - DAY_OPEN_SEC) // BAR
    return Grid(day_start_epoch(d), DAY_BARS, max(EARLY_DAY_END, rth_hi), RTH_FIRST, rth_hi)


def _evening(inst: Instrument) -> timedelta:
    """One day for instruments whose sessions open the evening before their date (futures, forex), else none:
    how far past a time's own date its session may lie."""
    return timedelta(days=1) if inst.kind in ("future", "forex") else timedelta(0)


def session_grid(inst: Instrument, epoch: float) -> Grid | None:
    """The grid of the session containing ``epoch`` (its own date, or the next one for sessions that open the
    evening before), or None outside the instrument's hours."""
    d = datetime.fromtimestamp(epoch, NEW_YORK).date()
    for day in (d, d + timedelta(days=1)):
        g = grid(inst, day)
        if g is not None and g.t0 <= epoch < g.t0 + g.end * BAR:
            return g
    return None


@dataclass
class DayBars:
    """One symbol-day of 5-second bars; prices in integer units of ``1 / scale`` (cents for stocks)."""

    day: date
    t0: int                   # POSIX seconds of bar 0 (04:00 New York for stocks; see ``grid`` for the others)
    o: np.ndarray
    h: np.ndarray
    low: np.ndarray
    c: np.ndarray
    v: np.ndarray
    end: int = DAY_BARS       # bars [0, end) exist
    rth_lo: int = RTH_FIRST
    rth_hi: int = RTH_END
    scale: int = 100
    forex: bool = False
    _cum_v: np.ndarray | None = None
    kind: str = "stock"

    @property
    def midnight_offset(self) -> int:
        """Seconds from New York midnight of the session date to bar 0 (negative when the session opens the
        evening before: futures, forex)."""
        midnight = int(datetime(self.day.year, self.day.month, self.day.day, tzinfo=NEW_YORK).timestamp())
        return self.t0 - midnight

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
    """True on NYSE sessions (weekdays that are not exchange holidays)."""
    return calendar.is_session(d)


class Market:
    """The synthetic market for one gateway. All prices are pure functions of (seed, symbol, day, plants)."""

    def __init__(self, seed: int = 0, start: datetime | None = None, plant_breakouts: bool = True):
        self.seed = int(seed)
        self.start = start
        self.plant_breakouts = bool(plant_breakouts)
        self._plants: dict[tuple[str, date], list[Plant]] = {}
        self._cache: OrderedDict[tuple[str, date], DayBars] = OrderedDict()
        self._closed: set[tuple[str, date]] = set()
        self._daily: dict[tuple[str, date, bool, str], Bar] = {}
        # default plants are computed per symbol when its start day is generated (lazy: start-up does not grow
        # with the universe)
        self._default_day: date | None = None
        self._default_first = 0
        if plant_breakouts and start is not None:
            local = start.astimezone(NEW_YORK)
            self._default_day = local.date()
            self._default_first = math.ceil((local.timestamp() - day_start_epoch(local.date())) / 60.0)

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
        g = grid(inst, d)
        if not inst.is_stock or g is None or not 0 <= idx <= g.end - MINUTE:
            raise ValueError(f"{at} is outside the trading grid (NYSE sessions 04:00-20:00 New York)")
        plants = self._plants_of(inst, d)
        plants.append(Plant(idx, float(size_pct)))
        plants.sort(key=lambda p: p.index)
        self._cache.pop((inst.key, d), None)
        for key in [k for k in self._daily if k[:2] == (inst.key, d)]:
            del self._daily[key]
        return datetime.fromtimestamp(day_start_epoch(d) + idx * BAR, NEW_YORK)

    def plants(self) -> list[tuple[str, date, int, float]]:
        """Every instrument-day's plant list as far as it was decided (key, day, 5-second bar index, size_pct;
        index -1 marks a day decided to have none): what the gateway's state file keeps. Undecided days get their
        default plant from ``start`` as before, so a restored market plants exactly what the original did."""
        out: list[tuple[str, date, int, float]] = []
        for (key, d), ps in sorted(self._plants.items()):
            out += [(key, d, p.index, p.size_pct) for p in ps] or [(key, d, -1, 0.0)]
        return out

    def replant(self, plants) -> None:
        """Replace the decided plants with ``plants`` (as ``plants()`` returns them) and forget cached days."""
        self._plants = {}
        for key, d, index, size_pct in plants:
            got = self._plants.setdefault((key, d), [])
            if index >= 0:
                got.append(Plant(int(index), float(size_pct)))
        for ps in self._plants.values():
            ps.sort(key=lambda p: p.index)
        self._cache.clear()
        self._daily.clear()

    def _plants_of(self, inst: Instrument, d: date) -> list[Plant]:
        """The day's plants, starting with the default one on the start day (22-27 minutes after ``start``)."""
        key = (inst.key, d)
        plants = self._plants.get(key)
        if plants is None:
            plants = self._plants[key] = []
            g = grid(inst, d) if d == self._default_day and inst.is_stock else None
            if g is not None:
                minute = self._default_first + 22 + (inst.con_id * 7 + self.seed * 13) % 6
                if minute * MINUTE + MINUTE <= g.end:
                    plants.append(Plant(minute * MINUTE, 0.3))
        return plants

    # ---- lookups ---------------------------------------------------------------------------------------------
    @staticmethod
    def instrument(symbol: str) -> Instrument:
        """The instrument for a key (``AAPL``, ``BRK B``, ``EUR.USD``); ValueError when unknown."""
        got = universe().get(symbol)
        if got is None:
            raise ValueError(f"unknown symbol {symbol!r}")
        return got

    def day(self, symbol: str, d: date, cache: bool = True) -> DayBars | None:
        """The day's 5-second bars (None when closed: weekends, NYSE holidays for stocks). Cached (LRU);
        ``cache=False`` neither reads nor fills the cache (a scan over the whole universe must not evict the days
        live subscriptions use)."""
        key = (symbol, d)
        got = self._cache.get(key)
        if got is not None:
            self._cache.move_to_end(key)
            return got
        if key in self._closed:          # the live scheduler asks every 5 s: answer closed days from a set
            return None
        inst = self.instrument(symbol)
        g = grid(inst, d)
        if g is None:
            if len(self._closed) >= _CLOSED_MAX:
                self._closed.clear()
            self._closed.add(key)
            return None
        if inst.key != symbol:
            return self.day(inst.key, d, cache)
        got = self._generate(inst, d, g, self._plants_of(inst, d))
        if not cache:
            return got
        self._cache[key] = got
        if len(self._cache) > _CACHE_DAYS:
            self._cache.popitem(last=False)
        return got

    def day_open(self, symbol: str, d: date) -> int:
        """The session's first 5-second open in price units (``day(symbol, d).o[0]``) without generating the day."""
        inst = self.instrument(symbol)
        return round(math.exp(self._level(inst, d)) * inst.scale)

    def _level(self, inst: Instrument, d: date) -> float:
        """Log price at the open of day ``d``: a slow curve (period months..years) plus daily noise."""
        rng = np.random.default_rng((self.seed, inst.seed_id, 0))
        phases = rng.uniform(0, 2 * np.pi, 3)
        amps = np.array([0.18, 0.08, 0.04]) * inst.vol / 0.3
        periods = np.array([700.0, 180.0, 45.0])
        n = d.toordinal()
        slow = float(np.sum(amps * np.sin(2 * np.pi * n / periods + phases)))
        daily_sd = inst.vol / math.sqrt(252)
        noise = np.random.default_rng((self.seed, inst.seed_id, n, 1)).standard_normal() * daily_sd * 0.7
        return math.log(inst.price) + slow + noise

    def _generate(self, inst: Instrument, d: date, g: Grid, plants) -> DayBars:
        rng = np.random.default_rng((self.seed, inst.seed_id, d.toordinal()))
        n = g.n
        rth = slice(g.rth_lo, g.rth_hi)
        daily_sd = inst.vol / math.sqrt(252)
        x = np.arange(n)
        # intraday volatility profile: U shape in regular hours, quieter outside
        profile = np.full(n, 0.35)
        f = (x[rth] - g.rth_lo) / (g.rth_hi - g.rth_lo)
        profile[rth] = 0.8 + 1.6 * np.exp(-f / 0.06) + 0.7 * np.exp(-(1 - f) / 0.08)
        if inst.is_forex:   # around the clock, busiest in the London/New York overlap (08:00-12:00 New York)
            midnight = datetime(d.year, d.month, d.day, tzinfo=NEW_YORK).timestamp()
            hour = ((g.t0 - midnight + x * BAR) / 3600.0) % 24
            profile = 0.6 + 0.9 * np.exp(-(((hour - 10.0) / 3.0) ** 2))
        # volatility regimes: piecewise constant over random 20-40 minute blocks
        regime = np.empty(n)
        pos = 0
        while pos < n:
            length = int(rng.integers(240, 480))
            regime[pos:pos + length] = math.exp(rng.normal(0.0, 0.35))
            pos += length
        sig = profile * regime
        sig *= daily_sd / math.sqrt(np.sum(sig[rth] ** 2))
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
        smile[rth] = 1.0 + 3.0 * np.exp(-f / 0.05) + 2.2 * np.exp(-(1 - f) / 0.05)
        vol_w = smile * regime ** 0.8 * (0.6 + 0.4 * np.abs(shocks)) * rng.lognormal(0.0, 0.35, n)
        vol_w *= max(inst.adv, 100) * math.exp(rng.normal(0.0, 0.2)) / np.sum(vol_w[rth])
        volume = np.maximum(1, np.rint(vol_w / 100.0)).astype(np.int64) * 100
        for p in plants:
            path, volume = _apply_plant(path, volume, wick_hi, wick_lo, log_open, p)
        o, h, low, c = _ohlc_units(path, wick_hi, wick_lo, log_open, inst.scale)
        return DayBars(d, g.t0, o, h, low, c, volume, g.end, g.rth_lo, g.rth_hi, inst.scale, inst.is_forex,
                       kind=inst.kind)

    # ---- reading -----------------------------------------------------------------------------------------------
    def base(self, symbol: str, t0: float, t1: float, use_rth: bool = False):
        """Yield (DayBars, lo, hi) index ranges of 5-second bars with start in [t0, t1)."""
        if t1 <= t0:
            return
        d = datetime.fromtimestamp(t0, NEW_YORK).date()
        last = datetime.fromtimestamp(t1, NEW_YORK).date() + _evening(self.instrument(symbol))
        while d <= last:
            db = self.day(symbol, d)
            if db is not None:
                lo = max(0, math.ceil((t0 - db.t0) / BAR))
                hi = min(db.end, math.ceil((t1 - db.t0) / BAR))
                if use_rth:
                    lo, hi = max(lo, db.rth_lo), min(hi, db.rth_hi)
                if hi > lo:
                    yield db, lo, hi
            d += timedelta(days=1)

    def bars(self, symbol: str, bar_seconds: int, t0: float, t1: float, use_rth: bool = False,
             what: str = "TRADES") -> list[Bar]:
        """Aggregated bars whose 5-second components start in [t0, t1). ``bar_seconds`` is a multiple of 5 or
        86400 (one bar per trading day, labelled with New York midnight of the session date). Labels: the start
        of the first 5-second bar in each bucket. Weekly (``WEEK``) and monthly (``MONTH``) bars: ``period_bars``."""
        out: list[Bar] = []
        if bar_seconds in (WEEK, MONTH):
            return _periods(self._daily_bars(symbol, t0, t1, use_rth, what), bar_seconds)
        if bar_seconds >= 86400:
            return self._daily_bars(symbol, t0, t1, use_rth, what)
        if bar_seconds < BAR:
            for db, lo, hi in self.base(symbol, t0 - t0 % BAR, t1, use_rth):
                for five in aggregate(db, lo, hi, BAR, what):
                    seconds = ([replace(five, time=five.time + k) for k in range(BAR)] if what in VOLATILITY_TYPES
                               else split_seconds(five, db.scale))
                    out += [b for b in seconds if t0 <= b.time < t1]
            return out
        for db, lo, hi in self.base(symbol, t0, t1, use_rth):
            out += aggregate(db, lo, hi, bar_seconds, what)
        return out

    def _daily_bars(self, symbol: str, t0: float, t1: float, use_rth: bool, what: str) -> list[Bar]:
        # Whole-day bars are cached, so long daily histories generate each day once per gateway.
        inst = self.instrument(symbol)
        out: list[Bar] = []
        d = datetime.fromtimestamp(t0, NEW_YORK).date()
        last = datetime.fromtimestamp(t1, NEW_YORK).date() + _evening(inst)
        while d <= last:
            g = grid(inst, d)
            if g is not None:
                first, end = (g.rth_lo, g.rth_hi) if use_rth else (0, g.end)
                e0 = g.t0
                whole = t0 <= e0 + first * BAR and e0 + end * BAR <= t1
                key = (inst.key, d, use_rth, what)
                bar = self._daily.get(key) if whole else None
                if bar is None:
                    for db, lo, hi in self.base(inst.key, max(t0, e0), min(t1, e0 + g.n * BAR), use_rth):
                        bars = aggregate(db, lo, hi, 86400, what)
                        bar = bars[0]
                        if whole:
                            self._daily[key] = bar
                if bar is not None:
                    out.append(bar)
            d += timedelta(days=1)
        return out

    def bar_at(self, symbol: str, start: float) -> tuple[DayBars, int] | None:
        """The 5-second bar starting at ``start`` (its day and index), or None outside the instrument's hours
        (futures and forex sessions open the evening before their session date)."""
        d = datetime.fromtimestamp(start, NEW_YORK).date()
        later = _evening(self.instrument(symbol))
        for day in (d, d + later) if later else (d,):
            db = self.day(symbol, day)
            if db is not None:
                i = int(start - db.t0) // BAR
                if 0 <= i < db.end:
                    return db, i
        return None

    def last_bar(self, symbol: str, t: float) -> tuple[DayBars, int] | None:
        """The latest 5-second bar completed by time ``t`` (searching back up to 10 days)."""
        d = datetime.fromtimestamp(t, NEW_YORK).date() + _evening(self.instrument(symbol))
        for _ in range(11):
            db = self.day(symbol, d)
            if db is not None:
                i = min(db.end, int((t - db.t0) // BAR)) - 1
                if i >= 0:
                    return db, i
            d -= timedelta(days=1)
        return None


def _periods(days: list[Bar], bar_seconds: int) -> list[Bar]:
    """Weekly (ISO week) or monthly bars from daily bars, each labelled with its first session."""
    def period(b: Bar):
        d = datetime.fromtimestamp(b.time, NEW_YORK).date()
        return d.isocalendar()[:2] if bar_seconds == WEEK else (d.year, d.month)

    out: list[Bar] = []
    group: list[Bar] = []
    for b in days + [None]:
        if group and (b is None or period(b) != period(group[0])):
            volume = sum(x.volume for x in group) if group[0].volume >= 0 else -1
            wap = (round(sum(x.wap * x.volume for x in group) / volume, 6) if volume > 0 else group[0].wap)
            count = sum(x.count for x in group) if group[0].count >= 0 else -1
            out.append(Bar(group[0].time, group[0].open, max(x.high for x in group), min(x.low for x in group),
                           group[-1].close, volume, wap, count))
            group = []
        if b is not None:
            group.append(b)
    return out


def split_seconds(b: Bar, scale: int) -> list[Bar]:
    """Five deterministic 1-second bars that aggregate exactly to the 5-second bar ``b`` (same open, close, high,
    low, volume): closes step evenly from open to close; the high and the low fall in one second each."""
    o, c = round(b.open * scale), round(b.close * scale)
    slot = b.time // BAR
    kh, kl = slot % BAR, (slot * 3 + 2) % BAR
    lots, rest = (divmod(b.volume, 100) if b.volume >= 0 else (0, 0))
    out = []
    prev = o
    for k in range(BAR):
        close = c if k == BAR - 1 else round(o + (c - o) * (k + 1) / BAR)
        hi = b.high if k == kh else max(prev, close) / scale
        lo = b.low if k == kl else min(prev, close) / scale
        if b.volume >= 0:
            vol = 100 * (lots // BAR + (1 if k < lots % BAR else 0)) + (rest if k == BAR - 1 else 0)
            count = max(1, vol // 100)
        else:
            vol, count = -1, -1
        out.append(Bar(b.time + k, prev / scale, max(hi, prev / scale, close / scale),
                       min(lo, prev / scale, close / scale), close / scale, vol, b.wap, count))
        prev = close
    return out


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


def _ohlc_units(path, wick_hi, wick_lo, log_open, scale: int = 100):
    unit = float(scale)
    c = np.rint(np.exp(path) * unit).astype(np.int64)
    o = np.empty_like(c)
    o[0] = round(math.exp(log_open) * unit)
    o[1:] = c[:-1]
    top = np.maximum(o, c)
    bot = np.minimum(o, c)
    h = np.maximum(top, np.rint(np.exp(path + wick_hi) * unit).astype(np.int64))
    low = np.minimum(bot, np.rint(np.exp(path - wick_lo) * unit).astype(np.int64))
    low = np.maximum(low, 1)
    return o, h, low, c


def bucket_ids(db: DayBars, lo: int, hi: int, bar_seconds: int) -> np.ndarray:
    """Bucket number (seconds since midnight // bar size) of each 5-second bar in [lo, hi)."""
    if bar_seconds >= 86400:
        return np.zeros(hi - lo, dtype=np.int64)
    return (db.midnight_offset + np.arange(lo, hi, dtype=np.int64) * BAR) // bar_seconds


#: whatToShow values with prices but no volume, wap or count (TWS sends -1 for those)
QUOTE_TYPES = ("MIDPOINT", "BID", "ASK", "BID_ASK")
VOLATILITY_TYPES = ("HISTORICAL_VOLATILITY", "OPTION_IMPLIED_VOLATILITY")
_SECONDS_PER_YEAR = 252 * 6.5 * 3600     # regular trading seconds in a year (annualisation of realised vol)


def aggregate(db: DayBars, lo: int, hi: int, bar_seconds: int, what: str = "TRADES") -> list[Bar]:
    """Aggregation of bars [lo, hi) of one day into ``bar_seconds`` buckets aligned to midnight, shaped as TWS
    shapes ``what``:

    * TRADES / ADJUSTED_LAST (no corporate actions here, so equal): OHLC, volume, VWAP, trade count;
    * MIDPOINT / BID / ASK: OHLC of that quote; volume, wap and count -1;
    * BID_ASK: open = average bid, high = highest ask, low = lowest bid, close = average ask (TWS's layout);
    * HISTORICAL_VOLATILITY / OPTION_IMPLIED_VOLATILITY: annualised volatility (0.25 = 25 %) as OHLC.
    """
    ids = bucket_ids(db, lo, hi, bar_seconds)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    times = (db.t0 + (lo + starts) * BAR).tolist()
    if bar_seconds >= 86400:
        times = [int(datetime(db.day.year, db.day.month, db.day.day, tzinfo=NEW_YORK).timestamp())]
    if what in VOLATILITY_TYPES:
        return _volatility_bars(db, lo, hi, starts, ends, times, what)
    unit = db.scale
    o = db.o[lo:hi]
    h = db.h[lo:hi]
    low = db.low[lo:hi]
    c = db.c[lo:hi]
    v = db.v[lo:hi]
    bo = o[starts]
    bh = np.maximum.reduceat(h, starts)
    bl = np.minimum.reduceat(low, starts)
    bc = c[ends - 1]
    if what == "BID_ASK":
        half = np.maximum(1, np.rint(c * _half_spread_rate(db))).astype(np.int64)
        mean_c = np.add.reduceat(c.astype(np.float64), starts) / (ends - starts)
        mean_half = np.add.reduceat(half.astype(np.float64), starts) / (ends - starts)
        ask_hi = np.maximum.reduceat(h + half, starts)
        bid_lo = np.minimum.reduceat(low - half, starts)
        return [Bar(times[k], round(float(mean_c[k] - mean_half[k])) / unit, int(ask_hi[k]) / unit,
                    int(bid_lo[k]) / unit, round(float(mean_c[k] + mean_half[k])) / unit, -1, -1.0, -1)
                for k in range(len(times))]
    bo, bh, bl, bc = bo.tolist(), bh.tolist(), bl.tolist(), bc.tolist()
    if what in ("TRADES", "ADJUSTED_LAST"):
        bv = np.add.reduceat(v, starts)
        typical = (h + low + c) / 3.0
        pv = np.add.reduceat(typical * v, starts).tolist()
        counts = np.add.reduceat(np.maximum(1, v // 100), starts).tolist()
        bv = bv.tolist()
        return [Bar(times[k], bo[k] / unit, bh[k] / unit, bl[k] / unit, bc[k] / unit, bv[k],
                    round(pv[k] / bv[k]) / unit, counts[k]) for k in range(len(times))]
    out = []
    for k in range(len(times)):
        half = half_spread(db, bc[k])
        shift = {"BID": -half, "ASK": half}.get(what, 0)
        out.append(Bar(times[k], (bo[k] + shift) / unit, (bh[k] + shift) / unit, (bl[k] + shift) / unit,
                       (bc[k] + shift) / unit, -1, -1.0, -1))
    return out


def _volatility_bars(db: DayBars, lo: int, hi: int, starts, ends, times, what: str) -> list[Bar]:
    """Realised volatility of the 5-second closes, annualised; the open/close halves give open/close."""
    c = db.c[max(0, lo - 1):hi].astype(np.float64)
    r = np.diff(np.log(c)) if lo > 0 else np.r_[0.0, np.diff(np.log(c))]
    sq = r * r
    out = []
    for k in range(len(times)):
        seg = sq[starts[k]:ends[k]]
        mid = max(1, len(seg) // 2)
        vals = [math.sqrt(float(np.mean(part)) * _SECONDS_PER_YEAR / BAR) if len(part) else 0.0
                for part in (seg, seg[:mid], seg[mid:] if len(seg) > 1 else seg)]
        if what == "OPTION_IMPLIED_VOLATILITY":   # implied: smoother and a little above realised
            vals = [0.04 + 0.25 * x + 0.75 * math.sqrt(float(np.mean(sq[max(0, starts[k] - 720):ends[k]]))
                                                          * _SECONDS_PER_YEAR / BAR) for x in vals]
        whole, first, second = (round(x, 6) for x in vals)
        out.append(Bar(times[k], first, max(whole, first, second), min(whole, first, second), second, -1, -1.0, -1))
    return out


def bar5(db: DayBars, i: int, what: str = "TRADES") -> Bar:
    """The single 5-second bar ``i`` (fast path for live streaming; equal to ``aggregate(db, i, i + 1, 5)``)."""
    o, h, low, c, v = int(db.o[i]), int(db.h[i]), int(db.low[i]), int(db.c[i]), int(db.v[i])
    t = db.t0 + i * BAR
    unit = db.scale
    if what == "TRADES":
        return Bar(t, o / unit, h / unit, low / unit, c / unit, v, round((h + low + c) / 3.0 * v / v) / unit,
                   max(1, v // 100))
    half = half_spread(db, c)
    shift = -half if what == "BID" else half if what == "ASK" else 0
    return Bar(t, (o + shift) / unit, (h + shift) / unit, (low + shift) / unit, (c + shift) / unit, -1, -1.0, -1)


def _half_spread_rate(db: DayBars) -> float:
    """Forex 0.05 bp; futures 0 (so the minimum: one tick each side); stocks and indexes 1 bp."""
    return 0.000005 if db.forex else 0.0 if db.kind == "future" else 0.0001


def half_spread(db: DayBars, price_units: int) -> int:
    """Half the quoted spread in price units: one basis point for stocks (at least a cent), 0.05 bp for forex."""
    return max(1, round(price_units * _half_spread_rate(db)))


def half_spread_cents(price_cents: int) -> int:
    """Half the quoted spread of a stock: one basis point, at least a cent."""
    return max(1, round(price_cents * 0.0001))
