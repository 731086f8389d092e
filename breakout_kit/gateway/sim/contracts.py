"""Contracts: resolving a request's contract and the contractDetails answer over the universe (``universe.py``: the
S&P 500, the most traded ETFs, forex majors). Unknown symbols answer error 200 with TWS's wording.
"""

from __future__ import annotations

from datetime import date, timedelta

from ...core import calendar
from .contract_spec import ContractSpec
from .universe import Instrument, universe

TIME_ZONE_ID = "US/Eastern"
EXTENDED_HOURS = ("0400", "2000")
LIQUID_HOURS = ("0930", "1600")
NO_SECDEF = "No security definition has been found for the request"
ORDER_TYPES = ("ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,DEACTDIS,DEACTEOD,"
               "GAT,GTC,GTD,GTT,HID,IOC,LIT,LMT,MIT,MKT,MTL,NGCOMB,NONALGO,OCA,PEGBENCH,SCALE,SCALERST,SNAPMID,"
               "SNAPMKT,SNAPREL,STP,STPLMT,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF")
VALID_EXCHANGES = "SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,ISLAND,DRCTEDGE,BEX,BATS,EDGEA,BYX,IEX,LTSE,MEMX,PEARL"


UNIVERSE: tuple[Instrument, ...] = universe().instruments
#: instruments by key (the IB symbol for stocks, ``EUR.USD`` for forex) and by conId
BY_SYMBOL: dict[str, Instrument] = universe().by_key
BY_CON_ID: dict[int, Instrument] = universe().by_con_id


def resolve(spec: ContractSpec) -> Instrument | None:
    """The instrument a request's contract fields denote, or None (-> error 200)."""
    return universe().resolve(con_id=spec.conId, symbol=spec.symbol, sec_type=spec.secType, exchange=spec.exchange,
                              primary_exchange=spec.primaryExchange, currency=spec.currency,
                              local_symbol=spec.localSymbol)


def session_hours(start: date, days: int = 7, forex: bool = False) -> tuple[str, str]:
    """TWS-style tradingHours and liquidHours strings for ``days`` calendar days from ``start`` (NYSE calendar:
    holidays CLOSED, early closes at 13:00 with the extended session to 17:00; forex: 24 hours on weekdays)."""
    trading, liquid = [], []
    for k in range(days):
        d = start + timedelta(days=k)
        s = f"{d:%Y%m%d}"
        if forex:
            if d.weekday() >= 5:
                hours = f"{s}:CLOSED"
            else:
                hours = f"{s}:0000-{d + timedelta(days=1):%Y%m%d}:0000"
            trading.append(hours)
            liquid.append(hours)
            continue
        close = calendar.session_close(d)
        if close is None:
            trading.append(f"{s}:CLOSED")
            liquid.append(f"{s}:CLOSED")
        else:
            early = close != calendar.CLOSE
            trading.append(f"{s}:{EXTENDED_HOURS[0]}-{s}:{'1700' if early else EXTENDED_HOURS[1]}")
            liquid.append(f"{s}:{LIQUID_HOURS[0]}-{s}:{close:%H%M}")
    return ";".join(trading), ";".join(liquid)


def contract_details_fields(req_id: int, inst: Instrument, exchange: str, today: date) -> tuple:
    """contractDetails (10) for server version 157, field for field as ib_insync's decoder reads it."""
    trading, liquid = session_hours(today, forex=inst.is_forex)
    if inst.is_forex:
        exchange, market_name, valid, order_types, rules = "IDEALPRO", inst.local_symbol, "IDEALPRO", ORDER_TYPES, \
            "239"
    else:
        exchange, market_name, valid, order_types, rules = exchange or "SMART", "NMS", VALID_EXCHANGES, ORDER_TYPES, \
            "26,26"
    return (
        10, 8, req_id,
        inst.symbol, inst.sec_type, "", 0.0, "", exchange, inst.currency, inst.local_symbol,
        market_name, inst.local_symbol, inst.con_id, inst.min_tick,
        "",                  # mdSizeMultiplier (obsolete, still sent before v164)
        "",                  # multiplier
        order_types, valid,
        1,                   # priceMagnifier
        0,                   # underConId
        inst.long_name, "" if inst.is_forex else inst.primary,
        "",                  # contractMonth
        inst.industry, inst.category, "",  # industry, category, subcategory
        TIME_ZONE_ID, trading, liquid,
        "", "",              # evRule, evMultiplier
        0,                   # numSecIds
        1,                   # aggGroup
        "", "",              # underSymbol, underSecType
        rules,               # marketRuleIds
        "",                  # realExpirationDate
        "" if inst.is_forex else inst.stock_type,
    )


def matching(pattern: str, limit: int = 16) -> list[Instrument]:
    """Symbols starting with ``pattern`` first, then names containing it (IB returns at most 16)."""
    return universe().matching(pattern, limit)
