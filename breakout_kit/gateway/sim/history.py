"""Historical bars as TWS answers them (model: a decoded request in, the reply's messages or an error out; the
wire handler in ``marketdata.py`` decodes and sends).

* bar sizes: every barSizeSetting TWS has, ``1 secs`` .. ``1 month`` (core/bars.py's vocabulary);
* durations: S / D / W / M / Y, with TWS's limits per bar size (162 "Time length exceed max.") and its 321
  validation errors (more than 86400 S must be asked in days, more than 365 D in years);
* whatToShow: TRADES, MIDPOINT, BID, ASK, BID_ASK, ADJUSTED_LAST, HISTORICAL_VOLATILITY,
  OPTION_IMPLIED_VOLATILITY (shapes in ``market.aggregate``); forex has quotes only (TRADES -> 162);
* dates: formatDate 1 -> ``YYYYMMDD HH:MM:SS US/Eastern``, 2 -> POSIX seconds; daily and longer bars always carry
  their session date ``YYYYMMDD``. D/W/M/Y count sessions of the NYSE calendar (weekdays for forex).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...core.bars import BAR_SECONDS
from .clock import NEW_YORK
from .contracts import TIME_ZONE_ID
from .market import BAR, MONTH, QUOTE_TYPES, WEEK, Market, grid
from .universe import Instrument

#: every barSizeSetting TWS has (core/bars.py's vocabulary) -> seconds; weeks and months are calendar periods
BAR_SIZES = {size: (WEEK if size == "1 week" else MONTH if size == "1 month" else n)
             for size, n in BAR_SECONDS.items()}
WHAT_TO_SHOW = ("TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST", "HISTORICAL_VOLATILITY",
                "OPTION_IMPLIED_VOLATILITY")
TRADING_DAYS = {"D": 1, "W": 5, "M": 21, "Y": 252}
_NOMINAL = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
#: the longest duration TWS serves per bar size (nominal seconds; beyond it: 162 "Time length exceed max.")
MAX_SPAN = {
    "1 secs": 2000, "5 secs": 86400, "10 secs": 2 * 86400, "15 secs": 2 * 86400, "30 secs": 7 * 86400,
    "1 min": 30 * 86400, "2 mins": 30 * 86400, "3 mins": 30 * 86400, "5 mins": 365 * 86400,
}
MAX_SPAN_DEFAULT = 10 * 365 * 86400
MAX_BARS = 100_000
HEAD_TIMESTAMP = date(2005, 1, 3)
_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")

ERR_BAR_SIZE = ("Error validating request.-'bP' : cause - Historical data bar size setting is invalid. "
                "Legal ones are: " + ", ".join(BAR_SIZES))
ERR_DURATION = "Error validating request.-'bQ' : cause - Historical data query duration format is invalid"
ERR_END = "Error validating request.-'bO' : cause - End date/time: invalid format"
ERR_KUTD_END = "Error validating request.-'bB' : cause - End date not supported with live updates"
ERR_TOO_LONG = "Historical Market Data Service error message:Time length exceed max."
ERR_SECONDS_TOO_LONG = ("Error validating request.-'bH' : cause - Historical data requests for durations longer "
                        "than 86400 seconds must be made in days.")
ERR_DAYS_TOO_LONG = ("Error validating request.-'bH' : cause - Historical data requests for durations longer "
                     "than 365 days must be made in years.")
ERR_ADJUSTED_END = ("Error validating request.-'bH' : cause - End date not supported with adjusted last "
                    "(ADJUSTED_LAST takes an empty endDateTime)")
ERR_KUTD_BAR_SIZE = "Error validating request.-'bB' : cause - Bar size not supported with live updates"


def _what_error(what: str) -> str:
    return (f"Historical Market Data Service error message:No data of type {what} is available for the "
            "exchange 'SMART' and the security type 'Stock'")


def forex_no_data(inst: Instrument, bar_seconds: int) -> str:
    """TWS's answer to TRADES (or volatility) history for a currency pair: IDEALPRO quotes, it has no trades."""
    last = "1d" if bar_seconds >= 86400 else str(bar_seconds)
    return (f"Historical Market Data Service error message:No historical market data for "
            f"{inst.symbol}/CASH@FXSUBPIP Last {last}")


def format_bar_time(epoch: int, bar_seconds: int, fmt: int) -> str:
    """A bar's date field as TWS sends it for ``formatDate`` 1 or 2: daily and longer bars carry their session
    date ``YYYYMMDD`` with either format (no time, no zone)."""
    if bar_seconds >= 86400:
        return f"{datetime.fromtimestamp(epoch, NEW_YORK):%Y%m%d}"
    if fmt == 2:
        return str(epoch)
    return f"{datetime.fromtimestamp(epoch, NEW_YORK):%Y%m%d %H:%M:%S} {TIME_ZONE_ID}"


def parse_end(text: str) -> float:
    """Parse TWS endDateTime forms into POSIX seconds (raises ValueError)."""
    s = text.strip()
    if len(s) == 8 and s.isdigit():
        d = datetime.strptime(s, "%Y%m%d")
        return datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=NEW_YORK).timestamp()
    if len(s) >= 17 and s[8] == "-":
        return datetime.strptime(s[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=ZoneInfo("UTC")).timestamp()
    parts = s.split()
    if len(parts) not in (2, 3):
        raise ValueError(text)
    t = datetime.strptime(parts[0] + " " + parts[1], "%Y%m%d %H:%M:%S")
    try:
        tz = ZoneInfo(parts[2]) if len(parts) == 3 else NEW_YORK
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name that is a folder of the zone database ("America") or otherwise unreadable
        raise ValueError(text) from None
    return t.replace(tzinfo=tz).timestamp()


def session_start(inst: Instrument, d: date, use_rth: bool) -> float | None:
    """First bar of ``inst``'s session on ``d`` (None when closed)."""
    g = grid(inst, d)
    if g is None:
        return None
    return g.t0 + (g.rth_lo * BAR if use_rth else 0)


def duration_start(end: float, number: int, unit: str, use_rth: bool, inst: Instrument) -> float:
    """Start of the span ``number unit`` back from ``end``: seconds for S, trading sessions (NYSE calendar for
    stocks, weekdays for forex) for D/W/M/Y."""
    if unit == "S":
        return end - number
    wanted = number * TRADING_DAYS[unit]
    d = datetime.fromtimestamp(end, NEW_YORK).date() + timedelta(days=1 if inst.kind in ("future", "forex") else 0)
    found = 0
    start = end
    for _ in range(wanted * 2 + 30):
        first = session_start(inst, d, use_rth)
        if first is not None and first + BAR <= end:   # has a completed bar
            found += 1
            start = first
            if found == wanted:
                break
        d -= timedelta(days=1)
    return start


@dataclass(frozen=True)
class HistoryRequest:
    """reqHistoricalData's fields, decoded."""

    req_id: int
    inst: Instrument
    end_text: str
    bar_size: str
    duration: str
    use_rth: bool
    what: str
    fmt: int
    keep_up: bool


@dataclass(frozen=True)
class Refusal:
    """An error TWS answers instead of bars."""

    code: int
    message: str


def check(req: HistoryRequest) -> Refusal | None:
    """TWS's validation of a history request, in TWS's order (None when acceptable)."""
    bar_seconds = BAR_SIZES.get(req.bar_size.strip())
    if bar_seconds is None:
        return Refusal(321, ERR_BAR_SIZE)
    m = _DURATION.match(req.duration)
    if m is None or int(m.group(1)) <= 0:
        return Refusal(321, ERR_DURATION)
    number, unit = int(m.group(1)), m.group(2)
    if unit == "S" and number > 86400:
        return Refusal(321, ERR_SECONDS_TOO_LONG)
    if unit == "D" and number > 365:
        return Refusal(321, ERR_DAYS_TOO_LONG)
    if req.what not in WHAT_TO_SHOW:
        return Refusal(162, _what_error(req.what))
    if req.fmt not in (1, 2):
        return Refusal(321, "Error validating request.-'bS' : cause - formatDate must be 1 or 2")
    if req.keep_up and req.end_text.strip():
        return Refusal(321, ERR_KUTD_END)
    if req.keep_up and (bar_seconds < BAR or bar_seconds > 86400):
        return Refusal(321, ERR_KUTD_BAR_SIZE)
    if req.what == "ADJUSTED_LAST" and req.end_text.strip():
        return Refusal(321, ERR_ADJUSTED_END)
    if req.inst.is_forex and req.what not in QUOTE_TYPES:
        return Refusal(162, forex_no_data(req.inst, bar_seconds))
    if number * _NOMINAL[unit] > MAX_SPAN.get(req.bar_size.strip(), MAX_SPAN_DEFAULT):
        return Refusal(162, ERR_TOO_LONG)
    if req.end_text.strip():
        try:
            parse_end(req.end_text)
        except ValueError:
            return Refusal(321, ERR_END)
    return None


def span(req: HistoryRequest, now: float) -> tuple[float, float]:
    """(start, end) POSIX seconds of an accepted request at gateway time ``now``."""
    end = min(parse_end(req.end_text), now) if req.end_text.strip() else now
    m = _DURATION.match(req.duration)
    assert m is not None
    return duration_start(end, int(m.group(1)), m.group(2), req.use_rth, req.inst), end


def too_many_bars(req: HistoryRequest, start: float, end: float) -> bool:
    """More bars than one answer carries (TWS: 162 "Time length exceed max.")."""
    bar_seconds = BAR_SIZES[req.bar_size.strip()]
    session_seconds = 6.5 * 3600 if req.use_rth else 16 * 3600
    return (end - start) / 86400 * 5 / 7 * session_seconds / min(bar_seconds, session_seconds) > MAX_BARS


def answer(market: Market, req: HistoryRequest, start: float, end: float, now: float) -> tuple:
    """The historicalData (17) message's fields for an accepted request (all at once; ``answer_in_slices`` is the
    same answer computed a trading day at a time)."""
    bar_seconds = BAR_SIZES[req.bar_size.strip()]
    bars = market.bars(req.inst.key, bar_seconds, start, _cut(end, now), use_rth=req.use_rth, what=req.what)
    return (*answer_head(req, start, end, len(bars)), *bar_fields(bars, bar_seconds, req.fmt))


def _cut(end: float, now: float) -> float:
    # only completed 5-second bars are known: the last aggregated bar may be partial, like TWS's
    return min(end, math.floor(now / BAR) * BAR)


def answer_head(req: HistoryRequest, start: float, end: float, count: int) -> tuple:
    """historicalData's fields before the bars: id, reqId, start and end of the span, the bar count."""
    start_s = format_bar_time(int(start), 1, 1).replace(" " + TIME_ZONE_ID, "")
    end_s = format_bar_time(int(end), 1, 1).replace(" " + TIME_ZONE_ID, "")
    return (17, req.req_id, start_s, end_s, count)


def bar_fields(bars, bar_seconds: int, fmt: int) -> list:
    """Each bar's eight historicalData fields, one after the other."""
    out: list = []
    for b in bars:
        out += (format_bar_time(b.time, bar_seconds, fmt), b.open, b.high, b.low, b.close, b.volume, b.wap, b.count)
    return out


#: longest stretch ``answer_in_slices`` works before it lets the event loop serve others
SLICE_SECONDS = 0.010
_PIECE = 256            # bars formatted between two looks at the clock (~5 ms)


async def answer_in_slices(market: Market, req: HistoryRequest, start: float, end: float, now: float,
                           slice_seconds: float = SLICE_SECONDS) -> AsyncIterator[list]:
    """``answer``'s bar fields, a trading day at a time: yields lists of bar fields and lets the loop run between
    days whenever ``slice_seconds`` of work have passed, so one long request (a year of 5-minute bars, ten years of
    months) never holds the other clients' streams. The bars are the same as ``answer``'s: intraday bars never
    span New York midnight, and daily, weekly and monthly bars come from the whole-day cache this fills first."""
    bar_seconds = BAR_SIZES[req.bar_size.strip()]
    cut = _cut(end, now)
    symbol, rth, what = req.inst.key, req.use_rth, req.what
    mark = time.perf_counter()
    d = datetime.fromtimestamp(start, NEW_YORK).date()
    last = datetime.fromtimestamp(cut, NEW_YORK).date() if cut > start else d - timedelta(days=1)
    daily = bar_seconds >= 86400
    while d <= last:
        lo = max(start, datetime(d.year, d.month, d.day, tzinfo=NEW_YORK).timestamp())
        d += timedelta(days=1)
        hi = min(cut, datetime(d.year, d.month, d.day, tzinfo=NEW_YORK).timestamp())
        if hi > lo:
            if daily:
                market.bars(symbol, 86400, lo, hi, use_rth=rth, what=what)      # fills the whole-day cache
            else:
                bars = market.bars(symbol, bar_seconds, lo, hi, use_rth=rth, what=what)
                for k in range(0, len(bars), _PIECE):
                    yield bar_fields(bars[k:k + _PIECE], bar_seconds, req.fmt)
                    if time.perf_counter() - mark > slice_seconds:
                        await asyncio.sleep(0)
                        mark = time.perf_counter()
        if time.perf_counter() - mark > slice_seconds:
            await asyncio.sleep(0)
            mark = time.perf_counter()
    if daily:
        bars = market.bars(symbol, bar_seconds, start, cut, use_rth=rth, what=what)
        for k in range(0, len(bars), _PIECE):
            yield bar_fields(bars[k:k + _PIECE], bar_seconds, req.fmt)
            if time.perf_counter() - mark > slice_seconds:
                await asyncio.sleep(0)
                mark = time.perf_counter()


# ---- histogram (reqHistogramData) ----------------------------------------------------------------------------------
_PERIOD = re.compile(r"^\s*(\d+)\s+(days?|weeks?|months?)\s*$", re.IGNORECASE)
_PERIOD_DAYS = {"d": 1, "w": 5, "m": 21}
MAX_HISTOGRAM_DAYS = 252
ERR_PERIOD = "Error validating request.-'bX' : cause - Histogram time period must be like '3 days', '1 week' or '1 month'"


def histogram(market: Market, inst: Instrument, now: float, period: str, use_rth: bool) -> list[tuple[float, int]]:
    """Traded volume by price over the last ``period`` ("3 days", "1 week", ...) of sessions before ``now``:
    (price, volume) rows, lowest price first, from the market's 1-minute bars (30-minute ones beyond a week, so
    a long period stays cheap). Raises ValueError for a period TWS would not read."""
    m = _PERIOD.match(period)
    if m is None or int(m.group(1)) <= 0:
        raise ValueError(ERR_PERIOD)
    days = min(int(m.group(1)) * _PERIOD_DAYS[m.group(2)[0].lower()], MAX_HISTOGRAM_DAYS)
    start = duration_start(now, days, "D", use_rth, inst)
    by_cents: dict[int, int] = {}
    for b in market.bars(inst.key, 60 if days <= 5 else 1800, start, now, use_rth=use_rth):
        if b.time + 60 <= now:
            cents = round(b.close * 100)
            by_cents[cents] = by_cents.get(cents, 0) + b.volume
    return [(cents / 100, volume) for cents, volume in sorted(by_cents.items())]
