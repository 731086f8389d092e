"""The built-in universe (liquid US stocks and ETFs) and the contract requests: reqContractDetails (9) and
reqMatchingSymbols (81). Unknown symbols answer error 200 with TWS's wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from .protocol import ContractSpec, Fields
from .session import Session, register

TIME_ZONE_ID = "US/Eastern"
EXTENDED_HOURS = ("0400", "2000")
LIQUID_HOURS = ("0930", "1600")
NO_SECDEF = "No security definition has been found for the request"
ORDER_TYPES = ("ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,DEACTDIS,DEACTEOD,"
               "GAT,GTC,GTD,GTT,HID,IOC,LIT,LMT,MIT,MKT,MTL,NGCOMB,NONALGO,OCA,PEGBENCH,SCALE,SCALERST,SNAPMID,"
               "SNAPMKT,SNAPREL,STP,STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF")
VALID_EXCHANGES = "SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,ISLAND,DRCTEDGE,BEX,BATS,EDGEA,BYX,IEX,LTSE,MEMX,PEARL"


@dataclass(frozen=True)
class Instrument:
    """One tradable stock/ETF and the parameters of its synthetic market."""

    symbol: str
    con_id: int
    primary: str          # primary exchange as IB names it
    long_name: str
    industry: str
    category: str
    price: float          # reference price level (USD)
    vol: float            # annualised volatility
    adv: int              # average daily volume (shares)
    stock_type: str = "COMMON"
    min_tick: float = 0.01
    currency: str = "USD"


UNIVERSE: tuple[Instrument, ...] = (
    Instrument("AAPL", 265598, "NASDAQ", "APPLE INC", "Technology", "Computers", 228.0, 0.26, 55_000_000),
    Instrument("MSFT", 272093, "NASDAQ", "MICROSOFT CORP", "Technology", "Software", 415.0, 0.24, 21_000_000),
    Instrument("AMZN", 3691937, "NASDAQ", "AMAZON.COM INC", "Communications", "Internet", 198.0, 0.32, 42_000_000),
    Instrument("GOOGL", 208813719, "NASDAQ", "ALPHABET INC-CL A", "Communications", "Internet", 172.0, 0.30,
               28_000_000),
    Instrument("META", 107113386, "NASDAQ", "META PLATFORMS INC-CLASS A", "Communications", "Internet", 565.0,
               0.36, 14_000_000),
    Instrument("NVDA", 4815747, "NASDAQ", "NVIDIA CORP", "Technology", "Semiconductors", 138.0, 0.50, 230_000_000),
    Instrument("TSLA", 76792991, "NASDAQ", "TESLA INC", "Consumer, Cyclical", "Auto Manufacturers", 245.0, 0.60,
               95_000_000),
    Instrument("AMD", 4391, "NASDAQ", "ADVANCED MICRO DEVICES", "Technology", "Semiconductors", 142.0, 0.48,
               40_000_000),
    Instrument("INTC", 270639, "NASDAQ", "INTEL CORP", "Technology", "Semiconductors", 22.5, 0.45, 60_000_000),
    Instrument("NFLX", 15124833, "NASDAQ", "NETFLIX INC", "Communications", "Internet", 760.0, 0.38, 3_500_000),
    Instrument("CSCO", 268084, "NASDAQ", "CISCO SYSTEMS INC", "Communications", "Telecommunications", 57.0, 0.20,
               18_000_000),
    Instrument("PEP", 11017, "NASDAQ", "PEPSICO INC", "Consumer, Non-cyclical", "Beverages", 162.0, 0.16,
               6_000_000),
    Instrument("ADBE", 265768, "NASDAQ", "ADOBE INC", "Technology", "Software", 505.0, 0.32, 3_000_000),
    Instrument("AVGO", 4815736, "NASDAQ", "BROADCOM INC", "Technology", "Semiconductors", 168.0, 0.42,
               25_000_000),
    Instrument("QCOM", 273544, "NASDAQ", "QUALCOMM INC", "Technology", "Semiconductors", 160.0, 0.34, 8_000_000),
    Instrument("JPM", 1520593, "NYSE", "JPMORGAN CHASE & CO", "Financial", "Banks", 240.0, 0.22, 9_000_000),
    Instrument("BAC", 10098, "NYSE", "BANK OF AMERICA CORP", "Financial", "Banks", 45.0, 0.26, 35_000_000),
    Instrument("WFC", 10375, "NYSE", "WELLS FARGO & CO", "Financial", "Banks", 72.0, 0.27, 16_000_000),
    Instrument("GS", 4627828, "NYSE", "GOLDMAN SACHS GROUP INC", "Financial", "Banks", 585.0, 0.27, 2_200_000),
    Instrument("V", 49462172, "NYSE", "VISA INC-CLASS A SHARES", "Financial", "Diversified Finan Serv", 305.0,
               0.19, 6_500_000),
    Instrument("XOM", 13977, "NYSE", "EXXON MOBIL CORP", "Energy", "Oil&Gas", 120.0, 0.23, 15_000_000),
    Instrument("CVX", 4901, "NYSE", "CHEVRON CORP", "Energy", "Oil&Gas", 160.0, 0.24, 7_500_000),
    Instrument("JNJ", 8719, "NYSE", "JOHNSON & JOHNSON", "Consumer, Non-cyclical", "Pharmaceuticals", 155.0, 0.16,
               7_000_000),
    Instrument("PFE", 11792, "NYSE", "PFIZER INC", "Consumer, Non-cyclical", "Pharmaceuticals", 26.0, 0.24,
               38_000_000),
    Instrument("KO", 8894, "NYSE", "COCA-COLA CO/THE", "Consumer, Non-cyclical", "Beverages", 64.0, 0.15,
               13_000_000),
    Instrument("WMT", 13824, "NYSE", "WALMART INC", "Consumer, Cyclical", "Retail", 88.0, 0.18, 15_000_000),
    Instrument("DIS", 6459, "NYSE", "WALT DISNEY CO/THE", "Communications", "Media", 112.0, 0.27, 9_000_000),
    Instrument("BA", 4762, "NYSE", "BOEING CO/THE", "Industrial", "Aerospace/Defense", 152.0, 0.38, 8_000_000),
    Instrument("CAT", 5437, "NYSE", "CATERPILLAR INC", "Industrial", "Machinery-Constr&Mining", 385.0, 0.28,
               2_600_000),
    Instrument("T", 37018770, "NYSE", "AT&T INC", "Communications", "Telecommunications", 22.8, 0.20, 33_000_000),
    Instrument("SPY", 756733, "ARCA", "SPDR S&P 500 ETF TRUST", "Funds", "Equity Fund", 595.0, 0.13, 45_000_000,
               stock_type="ETF"),
    Instrument("QQQ", 320227571, "NASDAQ", "INVESCO QQQ TRUST SERIES 1", "Funds", "Equity Fund", 505.0, 0.18,
               35_000_000, stock_type="ETF"),
    Instrument("IWM", 9579970, "ARCA", "ISHARES RUSSELL 2000 ETF", "Funds", "Equity Fund", 235.0, 0.20,
               30_000_000, stock_type="ETF"),
    Instrument("DIA", 73128548, "ARCA", "SPDR DJIA TRUST", "Funds", "Equity Fund", 440.0, 0.13, 3_500_000,
               stock_type="ETF"),
    Instrument("GLD", 51529211, "ARCA", "SPDR GOLD SHARES", "Funds", "Commodity Fund", 245.0, 0.15, 8_000_000,
               stock_type="ETF"),
    Instrument("TLT", 15547841, "NASDAQ", "ISHARES 20+ YEAR TREASURY BD", "Funds", "Debt Fund", 92.0, 0.16,
               35_000_000, stock_type="ETF"),
)

BY_SYMBOL: dict[str, Instrument] = {i.symbol: i for i in UNIVERSE}
BY_CON_ID: dict[int, Instrument] = {i.con_id: i for i in UNIVERSE}
_PRIMARY_ALIASES = {"NASDAQ": {"NASDAQ", "ISLAND"}, "NYSE": {"NYSE"}, "ARCA": {"ARCA", "NYSEARCA"}}


def resolve(spec: ContractSpec) -> Instrument | None:
    """The instrument a request's contract fields denote, or None (-> error 200)."""
    inst = BY_CON_ID.get(spec.conId) if spec.conId else BY_SYMBOL.get(spec.symbol.upper())
    if inst is None:
        return None
    if spec.conId and spec.symbol and spec.symbol.upper() != inst.symbol:
        return None
    if spec.secType not in ("", "STK"):
        return None
    if spec.currency not in ("", inst.currency):
        return None
    aliases = _PRIMARY_ALIASES.get(inst.primary, {inst.primary})
    if spec.exchange not in ("", "SMART") and spec.exchange not in aliases:
        return None
    if spec.primaryExchange and spec.primaryExchange not in aliases:
        return None
    return inst


def session_hours(start: date, days: int = 7) -> tuple[str, str]:
    """TWS-style tradingHours and liquidHours strings for ``days`` calendar days from ``start``."""
    trading, liquid = [], []
    for k in range(days):
        d = start + timedelta(days=k)
        s = f"{d:%Y%m%d}"
        if d.weekday() >= 5:
            trading.append(f"{s}:CLOSED")
            liquid.append(f"{s}:CLOSED")
        else:
            trading.append(f"{s}:{EXTENDED_HOURS[0]}-{s}:{EXTENDED_HOURS[1]}")
            liquid.append(f"{s}:{LIQUID_HOURS[0]}-{s}:{LIQUID_HOURS[1]}")
    return ";".join(trading), ";".join(liquid)


def contract_details_fields(req_id: int, inst: Instrument, exchange: str, today: date) -> tuple:
    """contractDetails (10) for server version 157, field for field as ib_insync's decoder reads it."""
    trading, liquid = session_hours(today)
    return (
        10, 8, req_id,
        inst.symbol, "STK", "", 0.0, "", exchange or "SMART", inst.currency, inst.symbol,
        "NMS", inst.symbol, inst.con_id, inst.min_tick,
        "",                  # mdSizeMultiplier (obsolete, still sent before v164)
        "",                  # multiplier
        ORDER_TYPES, VALID_EXCHANGES,
        1,                   # priceMagnifier
        0,                   # underConId
        inst.long_name, inst.primary,
        "",                  # contractMonth
        inst.industry, inst.category, "",  # industry, category, subcategory
        TIME_ZONE_ID, trading, liquid,
        "", "",              # evRule, evMultiplier
        0,                   # numSecIds
        1,                   # aggGroup
        "", "",              # underSymbol, underSecType
        "26,26",             # marketRuleIds
        "",                  # realExpirationDate
        inst.stock_type,
    )


@register(9)
def req_contract_details(session: Session, f: Fields) -> None:
    """reqContractDetails(version 8, reqId, contract, includeExpired, secIdType, secId[, issuerId])."""
    f.int()  # version
    req_id = f.int()
    spec = f.contract()
    inst = resolve(spec)
    if inst is None:
        session.error(req_id, 200, NO_SECDEF)
        return
    exchange = spec.exchange if spec.exchange else "SMART"
    session.send(*contract_details_fields(req_id, inst, exchange, session.gateway.clock.now().date()))
    session.send(52, 1, req_id)


def matching(pattern: str, limit: int = 16) -> list[Instrument]:
    """Symbols starting with ``pattern`` first, then names containing it (IB returns at most 16)."""
    p = pattern.strip().upper()
    if not p:
        return []
    first = [i for i in UNIVERSE if i.symbol.startswith(p)]
    more = [i for i in UNIVERSE if i not in first and p in i.long_name]
    return (first + more)[:limit]


@register(81)
def req_matching_symbols(session: Session, f: Fields) -> None:
    """reqMatchingSymbols(reqId, pattern) -> symbolSamples (79)."""
    req_id = f.int()
    pattern = f.str()
    found = matching(pattern)
    fields: list = [79, req_id, len(found)]
    for inst in found:
        fields += [inst.con_id, inst.symbol, "STK", inst.primary, inst.currency, 0]
    session.send(*fields)
