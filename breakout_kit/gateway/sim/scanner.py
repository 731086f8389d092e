"""The market scanner, computed from the gateway's own synthetic market.

Handled (incoming id -> replies):
  24 reqScannerParameters -> 19 scannerParameters (XML shaped like TWS's: instruments, locations, scan types,
     filters; clients read ``.//scanCode``, ``.//locationCode``, ``.//Instrument/type``, ``.//AbstractField/code``)
  22 reqScannerSubscription -> 20 scannerData now, then again every ``REFRESH_SECONDS`` of the gateway clock while
     subscribed (TWS re-sends a subscribed scan about every 30 s); 23 cancelScannerSubscription
Errors: 321 for an unknown instrument / location / scan code / filter, 162 past ``MAX_SUBSCRIPTIONS`` per client.

What a scan ranks, as of the latest 30-second boundary ``B`` of the gateway clock (the first answer uses the boundary
at which the request arrived). The session is the latest trading day with a completed 5-second bar before ``B``;
``last`` = the close of that bar, ``volume`` = the session's volume up to it, ``prev_close`` = the previous session's
16:00 close:

  TOP_PERC_GAIN   last / prev_close - 1, highest first (gainers only)
  TOP_PERC_LOSE   the same, lowest first (losers only)
  MOST_ACTIVE     volume, highest first
  HOT_BY_VOLUME   volume / the previous session's volume by the same time of day, highest first
  HIGH_VS_13W_HI  last / the 13-week high, highest first; the 13-week high is the highest of the last 65 sessions'
                  opening prices, the previous session's high and today's high so far (older sessions' intraday
                  highs would need all of their 5-second bars generated: opens come from the market's level curve)

Filters (subscription fields, or the filter tag-value list): abovePrice / priceAbove, belowPrice / priceBelow (on
``last``, inclusive), aboveVolume / volumeAbove, marketCapAbove / marketCapBelow (USD; the tags
marketCapAbove1e6 / marketCapBelow1e6 are in millions; market caps are the universe's figures), changePercAbove / changePercBelow (percent),
stockTypeFilter (ALL, STOCK, ETF). numberOfRows: 1..50 (unset = 50, TWS's maximum).

Lazy and bounded: nothing is computed until a scan is requested; a scan needs two sessions per instrument, which
are generated without touching the market's day cache and reduced at once to 30-second summaries (~23 KB per
instrument for today, ~8 KB for the previous session; only those two are kept); MOST_ACTIVE reads today only;
the 65 opens per instrument (HIGH_VS_13W_HI only) are one number each. The first scan of a session therefore
costs one or two generated days per instrument (seconds for the full universe); later refreshes cost milliseconds.
Generation yields to the event loop between instruments, so live streams keep their pace during the first scan of a
session.
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from .clock import NEW_YORK
from .clock_task import ClockTask
from .market import BAR, DAY_BARS, day_start_epoch, trading_day
from .outbound import Client
from .universe import universe

if TYPE_CHECKING:
    from ..server import PaperGateway

log = logging.getLogger("breakout_kit.gateway")

REFRESH_SECONDS = 30           # simulated seconds between updates of a subscribed scan
STRIDE = REFRESH_SECONDS // BAR
BLOCKS = DAY_BARS // STRIDE    # 30-second blocks in a 04:00-20:00 session
WEEKS13 = 65                   # sessions in 13 weeks
MAX_ROWS = 50
MAX_SUBSCRIPTIONS = 10
UNSET_INTEGER = 2 ** 31 - 1
UNSET_DOUBLE = 1.7976931348623157e308

#: scan code -> (TWS display name, sort key name, descending)
SCAN_TYPES: dict[str, tuple[str, str, bool]] = {
    "TOP_PERC_GAIN": ("Top % Gainers", "change", True),
    "TOP_PERC_LOSE": ("Top % Losers", "change", False),
    "MOST_ACTIVE": ("Most Active", "volume", True),
    "HOT_BY_VOLUME": ("Hot Contracts by Volume", "rel_volume", True),
    "HIGH_VS_13W_HI": ("High vs 13-Week High", "vs_high", True),
}
#: location code -> primary exchanges it covers (None: every US listing)
LOCATIONS: dict[str, tuple[str, frozenset[str] | None]] = {
    "STK.US.MAJOR": ("Listed/NASDAQ", None),
    "STK.US": ("US Stocks", None),
    "STK.NYSE": ("NYSE", frozenset({"NYSE"})),
    "STK.NASDAQ": ("NASDAQ", frozenset({"NASDAQ"})),
    "STK.ARCA": ("NYSE Arca", frozenset({"ARCA"})),
    "STK.BATS": ("Cboe BZX", frozenset({"BATS"})),
}
#: filter tag -> (TWS display name, what it limits, bound, unit factor)
FILTER_TAGS: dict[str, tuple[str, str, str, float]] = {
    "priceAbove": ("Price above", "last", "min", 1.0),
    "priceBelow": ("Price below", "last", "max", 1.0),
    "volumeAbove": ("Volume above", "volume", "min", 1.0),
    "marketCapAbove1e6": ("Market cap above ($M)", "market_cap", "min", 1e6),
    "marketCapBelow1e6": ("Market cap below ($M)", "market_cap", "max", 1e6),
    "changePercAbove": ("Change % above", "change_pct", "min", 1.0),
    "changePercBelow": ("Change % below", "change_pct", "max", 1.0),
}
STOCK_TYPES = ("ALL", "STOCK", "CORP", "ETF")


def scan_instruments() -> list:
    """The instruments a stock scan ranks (stocks and ETFs of the gateway's universe)."""
    return universe().stocks()


class ScanError(ValueError):
    """A scanner request TWS would refuse (error 321 with this text)."""


# ---- parameters XML ----------------------------------------------------------------------------------------------
def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    e = ET.SubElement(parent, tag, attrs)
    if text is not None:
        e.text = text
    return e


def parameters_xml() -> str:
    """The reqScannerParameters answer: a ScanParameterResponse document as TWS shapes it (the parts clients read)."""
    root = ET.Element("ScanParameterResponse")
    instruments = _sub(root, "InstrumentList", varName="fullInstrumentList")
    inst = _sub(instruments, "Instrument")
    _sub(inst, "name", "US Stocks")
    _sub(inst, "type", "STK")
    _sub(inst, "filters", ",".join(FILTER_TAGS))
    _sub(inst, "group", "STK.GLOBAL")
    _sub(inst, "shortName", "US")
    tree = _sub(root, "LocationTree", varName="locationTree")
    top = _sub(tree, "Location")
    _sub(top, "name", "US Stocks")
    _sub(top, "instruments", "STK")
    _sub(top, "routeExchange", "SMART")
    inner = _sub(top, "LocationTree")
    for code, (name, _) in LOCATIONS.items():
        loc = _sub(inner, "Location")
        _sub(loc, "name", name)
        _sub(loc, "locationCode", code)
        _sub(loc, "instruments", "STK")
        _sub(loc, "routeExchange", "SMART")
        _sub(loc, "delayedOnly", "false")
        _sub(loc, "access", "unrestricted")
    types = _sub(root, "ScanTypeList", varName="scanTypeList")
    for code, (name, _, _) in SCAN_TYPES.items():
        st = _sub(types, "ScanType")
        _sub(st, "displayName", name)
        _sub(st, "scanCode", code)
        _sub(st, "instruments", "STK")
        _sub(st, "absoluteColumns", "false")
        _sub(st, "supportsSorting", "true")
        _sub(st, "respSizeLimit", str(MAX_ROWS))
        _sub(st, "snapshotSizeLimit", str(MAX_ROWS))
        _sub(st, "searchDefault", "false")
        _sub(st, "access", "unrestricted")
    filters = _sub(root, "FilterList", varName="filterList")
    for tag, (name, _, _, _) in FILTER_TAGS.items():
        rf = _sub(filters, "RangeFilter")
        _sub(rf, "id", tag.upper())
        _sub(rf, "category", "Price" if "price" in tag.lower() or "change" in tag.lower() else "Volume"
             if "volume" in tag.lower() else "Fundamentals")
        _sub(rf, "access", "unrestricted")
        af = _sub(rf, "AbstractField", type="DoubleField")
        _sub(af, "code", tag)
        _sub(af, "displayName", name)
        _sub(af, "varName", tag)
        _sub(af, "abbrev", name)
        _sub(af, "acceptNegative", "true" if tag.startswith("change") else "false")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


# ---- a scan request ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScanRequest:
    """One decoded scan: what to rank, where, how many rows and the limits (min / max per quantity)."""

    scan_code: str
    location: str
    rows: int = MAX_ROWS
    limits: tuple[tuple[str, str, float], ...] = ()       # (quantity, "min" | "max", value)
    stock_type: str = "ALL"


# ---- the numbers ------------------------------------------------------------------------------------------------------
@dataclass
class SessionSummary:
    """One instrument-session reduced to 30-second blocks: block k ends with 5-second bar 6k+5 (blocks after an
    early close's extended session repeat its last block). Prices in cents, volumes in hundreds of shares (int32:
    ~23 KB per instrument-session); once the session is only the previous one, ``close`` and ``high`` are dropped."""

    close: np.ndarray | None   # last price at the end of each block
    high: np.ndarray | None    # the session's high so far
    cum_volume: np.ndarray     # the session's volume so far
    rth_close: int             # the regular session's last close (15:59:55, 12:59:55 on early closes)
    day_high: int


def summarize(db) -> SessionSummary:
    blocks = db.end // STRIDE
    ends = np.minimum(np.arange(STRIDE - 1, DAY_BARS, STRIDE), blocks * STRIDE - 1)
    high = np.maximum.accumulate(db.h[:db.end])
    return SessionSummary(db.c[ends].astype(np.int32), high[np.minimum(ends, db.end - 1)].astype(np.int32),
                          (db.cum_volume()[ends] // 100).astype(np.int32), int(db.c[db.rth_hi - 1]), int(high[-1]))


def as_of(boundary: int) -> tuple[date, int]:
    """The session and 30-second block a scan at ``boundary`` (a multiple of 30 s) reads: the latest trading day
    with a completed 5-second bar before ``boundary`` and the last full block of it."""
    d = datetime.fromtimestamp(boundary, NEW_YORK).date()
    for _ in range(15):
        if trading_day(d):
            k = min(BLOCKS, (boundary - day_start_epoch(d)) // REFRESH_SECONDS) - 1
            if k >= 0:
                return d, int(k)
        d -= timedelta(days=1)
    raise ValueError(f"no trading session in the 15 days before {boundary}")


def previous_sessions(d: date, n: int) -> list[date]:
    """The ``n`` trading days before ``d``, latest first."""
    out = []
    while len(out) < n:
        d -= timedelta(days=1)
        if trading_day(d):
            out.append(d)
    return out


@dataclass
class Table:
    """Every scanned instrument's numbers at one boundary (arrays aligned with ``instruments``)."""

    boundary: int
    instruments: list
    columns: dict[str, np.ndarray]


class Scanner(ClockTask):
    """The gateway's scan computations and subscriptions (``gw.scanner``), with one refresh task."""

    task_name = "paper-gateway-scanner"

    def __init__(self, gw: PaperGateway) -> None:
        super().__init__()
        self.gw = gw
        self._summaries: dict[tuple[str, date], SessionSummary] = {}
        self._high13: dict[tuple[str, date], int] = {}
        self._table: Table | None = None
        self.subs: dict[tuple[int, int], ScanSub] = {}
        self.scans_sent = 0

    # ---- numbers ---------------------------------------------------------------------------------------------
    def _summary(self, symbol: str, d: date) -> SessionSummary:
        key = (symbol, d)
        got = self._summaries.get(key)
        if got is None:
            db = self.gw.market.day(symbol, d, cache=False)
            assert db is not None, (symbol, d)
            got = self._summaries[key] = summarize(db)
        return got

    def _opens_high(self, symbol: str, d: date) -> int:
        key = (symbol, d)
        got = self._high13.get(key)
        if got is None:
            market = self.gw.market
            got = self._high13[key] = max(market.day_open(symbol, x) for x in previous_sessions(d, WEEKS13))
        return got

    async def table(self, boundary: int, need_prev: bool = False, need_high: bool = False) -> Table:
        """The numbers of every scanned instrument at ``boundary``, computing only the columns asked for (today's
        last, volume, high and market cap always; the previous session's for change and relative volume; the
        13-week opens for ``vs_high``). Cached for the latest boundary."""
        t = self._table
        if t is None or t.boundary != boundary:
            t = self._table = await self._today(boundary)
        d, k = as_of(boundary)
        if need_prev and "change" not in t.columns:
            await self._add_previous(t, d, k)
        if need_high and "vs_high" not in t.columns:
            await self._add_high(t, d)
        return t

    async def _today(self, boundary: int) -> Table:
        d, k = as_of(boundary)
        instruments = scan_instruments()
        keep = {d, *previous_sessions(d, 1)}
        for key in [key for key in self._summaries if key[1] not in keep]:
            del self._summaries[key]
        n = len(instruments)
        cols = {name: np.zeros(n) for name in ("last", "volume", "high", "market_cap")}
        for j, inst in enumerate(instruments):
            fresh = (inst.symbol, d) not in self._summaries
            today = self._summary(inst.symbol, d)
            assert today.close is not None and today.high is not None
            cols["last"][j] = today.close[k] / 100
            cols["volume"][j] = today.cum_volume[k] * 100.0
            cols["high"][j] = today.high[k] / 100
            cols["market_cap"][j] = inst.market_cap
            if fresh:
                await asyncio.sleep(0)     # generating sessions is the slow part: let live streams through
        return Table(boundary, instruments, cols)

    async def _add_previous(self, t: Table, d: date, k: int) -> None:
        prev = previous_sessions(d, 1)[0]
        n = len(t.instruments)
        close, volume, high = np.zeros(n), np.zeros(n), np.zeros(n)
        for j, inst in enumerate(t.instruments):
            fresh = (inst.symbol, prev) not in self._summaries
            before = self._summary(inst.symbol, prev)
            before.close = before.high = None          # only the previous session now: keep what is read
            close[j] = before.rth_close / 100
            volume[j] = before.cum_volume[k] * 100.0
            high[j] = before.day_high / 100
            if fresh:
                await asyncio.sleep(0)
        c = t.columns
        c["prev_close"], c["prev_volume"], c["prev_high"] = close, volume, high
        c["change"] = c["last"] / close - 1.0
        c["change_pct"] = c["change"] * 100.0
        c["rel_volume"] = c["volume"] / np.maximum(volume, 100.0)

    async def _add_high(self, t: Table, d: date) -> None:
        for key in [key for key in self._high13 if key[1] != d]:
            del self._high13[key]
        opens = np.zeros(len(t.instruments))
        for j, inst in enumerate(t.instruments):
            fresh = (inst.symbol, d) not in self._high13
            opens[j] = self._opens_high(inst.symbol, d) / 100
            if fresh and j % 16 == 15:
                await asyncio.sleep(0)
        c = t.columns
        c["vs_high"] = c["last"] / np.maximum.reduce([opens, c["prev_high"], c["high"]])

    async def scan(self, req: ScanRequest, boundary: int) -> list:
        """The instruments ``req`` selects at ``boundary``, best first (at most ``req.rows``)."""
        _, key, descending = SCAN_TYPES[req.scan_code]
        need_prev = key != "volume" or any(what == "change_pct" for what, _, _ in req.limits)
        t = await self.table(boundary, need_prev=need_prev, need_high=key == "vs_high")
        c = t.columns
        ok = np.ones(len(t.instruments), dtype=bool)
        primaries = LOCATIONS[req.location][1]
        if primaries is not None:
            ok &= np.array([i.primary in primaries for i in t.instruments], dtype=bool)
        if req.stock_type != "ALL":
            etf = np.array([i.stock_type == "ETF" for i in t.instruments], dtype=bool)
            ok &= etf if req.stock_type == "ETF" else ~etf
        for what, bound, value in req.limits:
            ok &= c[what] >= value if bound == "min" else c[what] <= value
        if req.scan_code == "TOP_PERC_GAIN":
            ok &= c["change"] > 0
        elif req.scan_code == "TOP_PERC_LOSE":
            ok &= c["change"] < 0
        picked = [j for j in range(len(t.instruments)) if ok[j]]
        values = c[key]
        picked.sort(key=lambda j: (-values[j] if descending else values[j], t.instruments[j].symbol))
        return [t.instruments[j] for j in picked[:req.rows]]

    # ---- subscriptions -----------------------------------------------------------------------------------------
    def boundary_now(self) -> int:
        return int(self.gw.clock.epoch() // REFRESH_SECONDS) * REFRESH_SECONDS

    def subscribe(self, session: Client, req_id: int, req: ScanRequest) -> None:
        mine = sum(1 for s in self.subs.values() if s.session is session)
        if mine >= MAX_SUBSCRIPTIONS:
            session.error(req_id, 162, "Historical Market Data Service error message:Scanner subscription limit "
                                       f"reached ({MAX_SUBSCRIPTIONS})")
            return
        self.subs[(id(session), req_id)] = ScanSub(session, req_id, req, first=self.boundary_now())
        self.wake()

    def cancel(self, session: Client, req_id: int) -> None:
        self.subs.pop((id(session), req_id), None)

    def drop_session(self, session: Client) -> None:
        for key in [k for k, s in self.subs.items() if s.session is session]:
            del self.subs[key]

    async def aclose(self) -> None:
        self.subs.clear()
        await super().aclose()

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            wake.clear()
            if not self.subs:
                self._table = None
                await self._idle()
                continue
            now = self.boundary_now()
            due = [s for s in self.subs.values() if s.sent < now]
            for boundary in sorted({s.first if s.sent < 0 else now for s in due}):
                for s in [s for s in due if (s.first if s.sent < 0 else now) == boundary]:
                    if self.subs.get((id(s.session), s.req_id)) is not s or s.session.closed:
                        continue       # cancelled while an earlier scan was computed
                    try:
                        found = await self.scan(s.req, boundary)
                    except Exception:
                        log.exception("scan %s failed", s.req)
                        found = []
                    if self.subs.get((id(s.session), s.req_id)) is s:
                        s.session.send(*scanner_data_fields(s.req_id, found))
                        s.sent = boundary
                        self.scans_sent += 1
            if wake.is_set():
                continue
            await self._wait_until(now + REFRESH_SECONDS)


@dataclass(eq=False)
class ScanSub:
    session: Client
    req_id: int
    req: ScanRequest
    first: int                 # boundary the request arrived in: the first answer is as of it
    sent: int = -1             # boundary of the last answer


def scanner_data_fields(req_id: int, found: list) -> list:
    """scannerData (20, version 3): rank, the contract, marketName, tradingClass, distance, benchmark, projection,
    legs for each row."""
    out: list = [20, 3, req_id, len(found)]
    for rank, inst in enumerate(found):
        out += [rank, inst.con_id, inst.symbol, "STK", "", 0.0, "", "SMART", inst.currency, inst.local_symbol,
                "NMS", inst.symbol, "", "", "", ""]
    return out


__all__ = ["FILTER_TAGS", "LOCATIONS", "REFRESH_SECONDS", "SCAN_TYPES", "ScanRequest", "Scanner", "as_of",
           "parameters_xml", "scan_instruments"]
