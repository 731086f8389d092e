"""Futures and indexes of the paper gateway (model only; ``universe.py`` adds them to the stocks and forex pairs).

Futures: ES, MES, NQ, YM, RTY (CME), CL (NYMEX), GC, SI (COMEX), ZN, ZB (CBOT; TWS's older name ECBOT is
accepted too) and 6E (CME), each with its real multiplier, tick and expiry cycle (quarterly H/M/U/Z for the equity
index, Treasury and euro futures; monthly for CL, GC, SI). Every expiry from ``FIRST_YEAR`` to ``LAST_YEAR`` is an
instrument with its own conId; which of them are *listed* depends on the gateway's date: the first ``LISTED``
expiries whose last trade date is today or later. The front month is the first listed one, so it rolls after its
last trade date (the rule the client's ``/ES`` follows too). All expiries of a root share one synthetic price path
(``series``): no basis or calendar spread is modelled.

Last trade dates follow the exchanges' rules on weekdays (holidays ignored): equity index futures the third
Friday of the contract month; 6E two business days before the third Wednesday; ZN/ZB the seventh business day
before the last business day; CL three business days before the 25th of the month before; GC/SI the third last
business day of the month.

Indexes: SPX, NDX, VIX, RUT, TRADES history in regular hours, no orders.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta

FIRST_YEAR, LAST_YEAR = 2024, 2029
LISTED = 2
MONTH_CODES = "FGHJKMNQUVXZ"
QUARTERLY = (3, 6, 9, 12)
MONTHLY = tuple(range(1, 13))


@dataclass(frozen=True)
class Root:
    """One futures product."""

    symbol: str          # IB's symbol and tradingClass (ES, 6E -> IB's symbol "EUR", tradingClass "6E")
    ib_symbol: str
    exchange: str
    name: str
    multiplier: float
    tick: float
    price: float         # reference price level
    vol: float
    adv: int
    months: tuple[int, ...]
    rule: str            # last-trade-date rule: equity | fx | treasury | crude | metal


ROOTS: tuple[Root, ...] = (
    Root("ES", "ES", "CME", "E-mini S&P 500", 50, 0.25, 6800.0, 0.16, 1_500_000, QUARTERLY, "equity"),
    Root("MES", "MES", "CME", "Micro E-mini S&P 500", 5, 0.25, 6800.0, 0.16, 1_200_000, QUARTERLY, "equity"),
    Root("NQ", "NQ", "CME", "E-mini Nasdaq-100", 20, 0.25, 25000.0, 0.2, 600_000, QUARTERLY, "equity"),
    Root("YM", "YM", "CBOT", "E-mini Dow ($5)", 5, 1.0, 47000.0, 0.14, 150_000, QUARTERLY, "equity"),
    Root("RTY", "RTY", "CME", "E-mini Russell 2000", 50, 0.1, 2500.0, 0.2, 150_000, QUARTERLY, "equity"),
    Root("CL", "CL", "NYMEX", "Light Sweet Crude Oil", 1000, 0.01, 60.0, 0.32, 400_000, MONTHLY, "crude"),
    Root("GC", "GC", "COMEX", "Gold", 100, 0.1, 4000.0, 0.16, 250_000, MONTHLY, "metal"),
    Root("SI", "SI", "COMEX", "Silver", 5000, 0.005, 50.0, 0.3, 80_000, MONTHLY, "metal"),
    Root("ZN", "ZN", "CBOT", "10 Year US Treasury Note", 1000, 1 / 64, 112.0, 0.05, 1_500_000, QUARTERLY,
         "treasury"),
    Root("ZB", "ZB", "CBOT", "US Treasury Bond", 1000, 1 / 32, 116.0, 0.1, 400_000, QUARTERLY, "treasury"),
    Root("6E", "EUR", "CME", "European Monetary Union Euro", 125_000, 0.00005, 1.17, 0.07, 200_000, QUARTERLY,
         "fx"),
)
ROOTS_BY_SYMBOL = {r.symbol: r for r in ROOTS}
#: exchange names a request may use (TWS renamed GLOBEX -> CME and ECBOT -> CBOT; both spellings are accepted)
FUTURE_EXCHANGE_ALIASES = {"CME": {"CME", "GLOBEX"}, "CBOT": {"CBOT", "ECBOT"}, "NYMEX": {"NYMEX"},
                           "COMEX": {"COMEX"}}


@dataclass(frozen=True)
class IndexDef:
    symbol: str
    con_id: int
    exchange: str
    name: str
    price: float
    vol: float


INDEXES: tuple[IndexDef, ...] = (
    IndexDef("SPX", 416904, "CBOE", "S&P 500 Stock Index", 6800.0, 0.16),
    IndexDef("NDX", 416843, "NASDAQ", "NASDAQ 100 Stock Index", 25000.0, 0.2),
    IndexDef("VIX", 13455763, "CBOE", "CBOE Volatility Index", 17.0, 0.9),
    IndexDef("RUT", 416888, "RUSSELL", "Russell 2000 Stock Index", 2500.0, 0.2),
)


def _business_days_back(d: date, n: int) -> date:
    while n:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def _last_business_day(year: int, month: int) -> date:
    d = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def _third(year: int, month: int, weekday: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 14)


def last_trade_date(root: Root, year: int, month: int) -> date:
    """The contract month's last trade date (exchange rule on weekdays; holidays ignored)."""
    if root.rule == "equity":
        return _third(year, month, 4)
    if root.rule == "fx":
        return _business_days_back(_third(year, month, 2), 2)
    if root.rule == "treasury":
        return _business_days_back(_last_business_day(year, month), 7)
    if root.rule == "crude":
        prev_y, prev_m = (year, month - 1) if month > 1 else (year - 1, 12)
        d = date(prev_y, prev_m, 25)
        return _business_days_back(d, 3 if d.weekday() < 5 else 4)
    return _business_days_back(_last_business_day(year, month), 2)


def local_symbol(root: Root, year: int, month: int) -> str:
    """The local symbol: root + month code + last digit of the year (``ESZ6``, ``6EH7``; TWS spells the CBOT ones
    ``ZN   DEC 26``, the gateway keeps the compact form for all)."""
    return f"{root.symbol}{MONTH_CODES[month - 1]}{year % 10}"


def expiries(root: Root) -> list[tuple[int, int, date]]:
    """Every (year, month, last trade date) of ``root`` from FIRST_YEAR to LAST_YEAR."""
    return [(y, m, last_trade_date(root, y, m)) for y in range(FIRST_YEAR, LAST_YEAR + 1) for m in root.months]


def future_con_id(local: str) -> int:
    return 700_000_000 + zlib.crc32(f"FUT:{local}".encode()) % 100_000_000
