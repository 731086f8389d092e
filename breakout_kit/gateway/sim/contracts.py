"""Contracts: resolving a request's contract and the contractDetails answer over the universe (``universe.py``: the
S&P 500, the most traded ETFs, forex majors, futures and indexes). Unknown symbols answer error 200 with TWS's wording.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from ...core import calendar, trading_hours
from .contract_spec import ContractSpec
from .universe import CONTFUT, EXCHANGE_ALIASES, FUTURE, Instrument, universe

TIME_ZONE_ID = "US/Eastern"
EXTENDED_HOURS = ("0400", "2000")
LIQUID_HOURS = ("0930", "1600")
NO_SECDEF = "No security definition has been found for the request"
#: an order on an index (indexes are quoted, not traded)
NOT_TRADABLE = "Order rejected - reason:The contract is not available for trading"
ORDER_TYPES = ("ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,DEACTDIS,DEACTEOD,"
               "GAT,GTC,GTD,GTT,HID,IOC,LIT,LMT,MIT,MKT,MTL,NGCOMB,NONALGO,OCA,PEGBENCH,SCALE,SCALERST,SNAPMID,"
               "SNAPMKT,SNAPREL,STP,STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF")
FUTURE_ORDER_TYPES = ("ACTIVETIM,AD,ADJUST,ALERT,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,DEACTDIS,DEACTEOD,"
                      "GAT,GTC,GTD,GTT,HID,ICE,IOC,LIT,LMT,LTH,MIT,MKT,MTL,NGCOMB,NONALGO,OCA,SCALE,SCALERST,STP,"
                      "STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF")
EQUITY_ROOTS = ("ES", "MES", "NQ", "YM", "RTY")
#: market rule ids of the futures' tick tables (``wire/misc_requests.py`` answers them)
FUTURE_RULES = {"ES": "67", "MES": "67", "NQ": "67", "YM": "68", "RTY": "69", "CL": "32", "GC": "69",
                "SI": "70", "ZN": "71", "ZB": "72", "6E": "73"}
#: those rules' increments (one price band each)
FUTURE_RULE_TICKS = {67: 0.25, 68: 1.0, 69: 0.1, 32: 0.01, 70: 0.005, 71: 1 / 64, 72: 1 / 32, 73: 0.00005}
VALID_EXCHANGES = "SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,ISLAND,DRCTEDGE,BEX,BATS,EDGEA,BYX,IEX,LTSE,MEMX,PEARL"


UNIVERSE: tuple[Instrument, ...] = universe().instruments
#: instruments by key (the IB symbol for stocks, ``EUR.USD`` for forex) and by conId
BY_SYMBOL: dict[str, Instrument] = universe().by_key
BY_CON_ID: dict[int, Instrument] = universe().by_con_id


def resolve(spec: ContractSpec, today: date | None = None) -> Instrument | None:
    """The instrument a request's contract fields denote, or None (-> error 200). A future needs its conId, local
    symbol or contract month (several listed expiries match: None); CONTFUT is the front month on ``today``."""
    got = resolve_all(spec, today)
    return got[0] if len(got) == 1 else None


def resolve_all(spec: ContractSpec, today: date | None = None) -> list[Instrument]:
    """Every instrument a request's contract fields denote (reqContractDetails answers each): the listed expiries
    for a FUT request without month, the front month for CONTFUT."""
    sec_type = spec.secType.upper()
    if sec_type in (FUTURE, CONTFUT) and not spec.conId:
        exchange = spec.exchange.upper()
        month = spec.lastTradeDateOrContractMonth.strip()
        if sec_type == CONTFUT or (not month and not spec.localSymbol):
            if today is None:
                return []
            month = ""
        found = universe().futures_matching(spec.symbol or spec.localSymbol[:-2], month,
                                            "" if sec_type == CONTFUT else spec.localSymbol, today or date.min,
                                            spec.tradingClass)
        found = [i for i in found if not exchange or exchange in EXCHANGE_ALIASES.get(i.primary, {i.primary})]
        found = [i for i in found if spec.currency in ("", i.currency)]
        if spec.multiplier and found:
            found = [i for i in found if _same_number(spec.multiplier, i.multiplier)]
        return found[:1] if sec_type == CONTFUT else found
    inst = universe().resolve(con_id=spec.conId, symbol=spec.symbol, sec_type="" if sec_type == CONTFUT and
                              spec.conId else spec.secType, exchange=spec.exchange,
                              primary_exchange=spec.primaryExchange, currency=spec.currency,
                              local_symbol=spec.localSymbol)
    return [inst] if inst is not None else []


def _same_number(text: str, value: float) -> bool:
    try:
        return float(text) == value
    except ValueError:
        return False


def _tz(inst: Instrument) -> tuple[str, ZoneInfo]:
    name = "US/Central" if inst.is_future else TIME_ZONE_ID
    return name, ZoneInfo({"US/Central": "America/Chicago", "US/Eastern": "America/New_York"}[name])


def session_hours(start: date, days: int = 7, forex: bool = False, inst: Instrument | None = None) -> tuple[str, str]:
    """TWS-style tradingHours and liquidHours strings for ``days`` calendar days from ``start``, in the contract's
    time zone: stocks on the NYSE calendar (holidays CLOSED, early closes at 13:00 with the extended session to
    17:00); futures, forex and indexes on ``core.trading_hours`` (each entry ``open-close`` of one session, the
    open on the evening before for futures and forex)."""
    kind = inst.kind if inst is not None else ("forex" if forex else "stock")
    if kind == "stock":
        return _stock_hours(start, days)
    zone = _tz(inst)[1] if inst is not None else ZoneInfo("America/New_York")
    trading, liquid = [], []
    for k in range(days):
        d = start + timedelta(days=k)
        for out, window in ((trading, trading_hours.session_window(kind, d)),
                            (liquid, trading_hours.regular_window(kind, d))):
            if window is None:
                out.append(f"{d:%Y%m%d}:CLOSED")
            else:
                a, b = (t.astimezone(zone) for t in window)
                out.append(f"{a:%Y%m%d:%H%M}-{b:%Y%m%d:%H%M}")
    return ";".join(trading), ";".join(liquid)


def _stock_hours(start: date, days: int) -> tuple[str, str]:
    trading, liquid = [], []
    for k in range(days):
        d = start + timedelta(days=k)
        s = f"{d:%Y%m%d}"
        close = calendar.session_close(d)
        if close is None:
            trading.append(f"{s}:CLOSED")
            liquid.append(f"{s}:CLOSED")
        else:
            early = close != calendar.CLOSE
            trading.append(f"{s}:{EXTENDED_HOURS[0]}-{s}:{'1700' if early else EXTENDED_HOURS[1]}")
            liquid.append(f"{s}:{LIQUID_HOURS[0]}-{s}:{close:%H%M}")
    return ";".join(trading), ";".join(liquid)


def _multiplier_text(inst: Instrument) -> str:
    return f"{inst.multiplier:g}" if inst.is_future else ""


def contract_details_fields(req_id: int, inst: Instrument, exchange: str, today: date,
                            sec_type: str = "") -> tuple:
    """contractDetails (10) for server version 157, field for field as ib_insync's decoder reads it.
    ``sec_type`` CONTFUT answers a continuous-future request with the front month's details."""
    trading, liquid = session_hours(today, inst=inst)
    last_trade, contract_month, under = "", "", ("", "")
    primary, stock_type, tz = inst.primary, inst.stock_type, _tz(inst)[0]
    if inst.is_forex:
        exchange, market_name, valid, order_types, rules = "IDEALPRO", inst.local_symbol, "IDEALPRO", ORDER_TYPES, \
            "239"
        primary, stock_type = "", ""
    elif inst.is_future:
        exchange, market_name, valid, order_types = inst.primary, inst.root, inst.primary, FUTURE_ORDER_TYPES
        rules = FUTURE_RULES.get(inst.root, "67")
        last_trade = f"{inst.expiry} {'08:30' if inst.root in EQUITY_ROOTS else '13:30'} US/Central"
        contract_month, under = inst.series_month, (inst.symbol, "IND" if inst.root in EQUITY_ROOTS else "")
        primary, stock_type = "", ""
    elif inst.is_index:
        exchange, market_name, valid, order_types, rules = inst.primary, inst.key, inst.primary, "", ""
        primary, stock_type = "", ""
    else:
        exchange, market_name, valid, order_types, rules = exchange or "SMART", "NMS", VALID_EXCHANGES, ORDER_TYPES, \
            "26,26"
    return (
        10, 8, req_id,
        inst.symbol, sec_type or inst.sec_type, last_trade, 0.0, "", exchange, inst.currency, inst.local_symbol,
        market_name, inst.trading_class, inst.con_id, inst.min_tick,
        "",                  # mdSizeMultiplier (obsolete, still sent before v164)
        _multiplier_text(inst),
        order_types, valid,
        1,                   # priceMagnifier
        0,                   # underConId
        inst.long_name, primary,
        contract_month,
        inst.industry, inst.category, "",  # industry, category, subcategory
        tz, trading, liquid,
        "", "",              # evRule, evMultiplier
        0,                   # numSecIds
        1,                   # aggGroup
        *under,              # underSymbol, underSecType
        rules,               # marketRuleIds
        inst.expiry,         # realExpirationDate
        stock_type,
    )


def matching(pattern: str, limit: int = 16) -> list[Instrument]:
    """Symbols starting with ``pattern`` first, then names containing it (IB returns at most 16)."""
    return universe().matching(pattern, limit)
