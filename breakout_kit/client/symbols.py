"""The one symbol grammar: what a user may type wherever a symbol is asked for (CLI, the panel's symbol box,
``BreakoutWatcher``, ``ingest``/``load``, ``IBClient.qualify``), and the IB contract each form means.

==================  ==========================================================================================
``AAPL``, ``BRK.B``  a US stock or ETF (SMART/USD; share classes as ``BRK.B``, ``BRK/B`` or IB's ``BRK B``)
``EURUSD``           a currency pair on IDEALPRO (also ``EUR.USD``, ``EUR/USD``): quotes only, bars are MIDPOINT
``/ES``              the front-month future of a root (as thinkorswim and TradeStation write it): the listed
                     expiry with the earliest last trade date not before today, so it rolls the day after the
                     front month's last trade date
``ESZ6``, ``ES 202612``  one expiry (month code + last digit of the year, or ``YYYYMM`` / ``YYYYMMDD``)
``SPX``, ``VIX``     an index (SPX, NDX, VIX, RUT): TRADES bars, no orders
a ``Contract``       used as given (``Stock``, ``Forex``, ``Future``, ``ContFuture``, ``Index`` from the card)
==================  ==========================================================================================

A bare futures root that is also a stock ticker is the stock (``ES`` is Eversource Energy, ``CL`` Colgate-Palmolive):
``hint`` says how to ask for the future. Pure parsing: no I/O; ``contracts.Contracts`` does the asking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from breakout_kit.client.errors import ContractError
from breakout_kit.client.iblib import Contract, Forex, Future, Index, Stock

__all__ = ["CURRENCIES", "FUTURE_ROOTS", "INDEXES", "SymbolSpec", "display_symbol", "hint", "parse_symbol",
           "what_to_show"]

#: futures roots the grammar knows: root -> (IB symbol, exchange as TWS names it, name)
FUTURE_ROOTS: dict[str, tuple[str, str, str]] = {
    "ES": ("ES", "CME", "E-mini S&P 500"), "MES": ("MES", "CME", "Micro E-mini S&P 500"),
    "NQ": ("NQ", "CME", "E-mini Nasdaq-100"), "MNQ": ("MNQ", "CME", "Micro E-mini Nasdaq-100"),
    "YM": ("YM", "CBOT", "E-mini Dow"), "RTY": ("RTY", "CME", "E-mini Russell 2000"),
    "CL": ("CL", "NYMEX", "crude oil"), "GC": ("GC", "COMEX", "gold"), "SI": ("SI", "COMEX", "silver"),
    "ZN": ("ZN", "CBOT", "10-year Treasury note"), "ZB": ("ZB", "CBOT", "Treasury bond"),
    "6E": ("EUR", "CME", "euro FX"),
}
#: indexes: symbol -> exchange
INDEXES: dict[str, str] = {"SPX": "CBOE", "NDX": "NASDAQ", "VIX": "CBOE", "RUT": "RUSSELL"}
CURRENCIES = frozenset(["USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD", "SEK", "NOK", "DKK", "HKD", "SGD",
                        "MXN", "CNH", "ZAR", "PLN", "CZK", "HUF", "TRY", "ILS"])
MONTH_CODES = "FGHJKMNQUVXZ"

_STOCK = re.compile(r"^[A-Z0-9][A-Z0-9.\- ]{0,11}$")
_CLASS_SHARE = re.compile(r"^([A-Z]{1,5})[./]([A-Z])$")    # BRK.B / BRK/B: IB spells share classes "BRK B"
_PAIR = re.compile(r"^([A-Z]{3})[./]?([A-Z]{3})$")
_EXPIRY_CODE = re.compile(r"^([A-Z0-9]{1,3}?)([FGHJKMNQUVXZ])(\d{1,2})$")
_EXPIRY_MONTH = re.compile(r"^/?([A-Z0-9]{1,3})\s+(\d{6}|\d{8})$")


@dataclass(frozen=True)
class SymbolSpec:
    """What a typed symbol means: ``kind`` is stock, forex, future (one expiry), front (the front month) or index;
    ``symbol`` IB's spelling (``BRK B``, ``EUR.USD``, the root ``ES``, ``SPX``); ``month`` a future's
    ``YYYYMM`` or ``YYYYMMDD``."""

    kind: str
    symbol: str
    month: str = ""

    def contract(self) -> Contract:
        """The partial IB contract to qualify (for ``front``: every listed expiry of the root)."""
        if self.kind == "forex":
            return Forex(self.symbol.replace(".", ""))
        if self.kind == "index":
            return Index(self.symbol, INDEXES[self.symbol], "USD")
        if self.kind in ("future", "front"):
            ib_symbol, exchange, _ = FUTURE_ROOTS[self.symbol]
            return Future(ib_symbol, self.month, exchange, tradingClass=self.symbol, currency="USD")
        return Stock(self.symbol, "SMART", "USD")

    @property
    def what(self) -> str:
        """The bar type the watcher uses for it: MIDPOINT for forex (IDEALPRO has no trades), TRADES otherwise."""
        return "MIDPOINT" if self.kind == "forex" else "TRADES"


def _year(digit: str, today: date) -> int:
    """The year a one- or two-digit year of an expiry code means: the first not before last year."""
    if len(digit) == 2:
        return 2000 + int(digit)
    year = today.year - 1
    while year % 10 != int(digit):
        year += 1
    return year


def parse_symbol(text: str, today: date | None = None) -> SymbolSpec:
    """The meaning of ``text`` in the grammar above; ``ContractError`` (one line) when it is none of them."""
    if not isinstance(text, str):
        raise TypeError(f"symbol must be a str or Contract, got {type(text).__name__}")
    raw = " ".join(text.strip().upper().split())
    today = today or date.today()
    if raw.startswith("/"):
        root = raw[1:]
        m = _EXPIRY_MONTH.match(raw)
        if m and m.group(1) in FUTURE_ROOTS:
            return SymbolSpec("future", m.group(1), m.group(2))
        if root in FUTURE_ROOTS:
            return SymbolSpec("front", root)
        m = _EXPIRY_CODE.match(root)
        if m and m.group(1) in FUTURE_ROOTS:
            return _coded(m, today)
        raise ContractError(f"unknown futures root {root!r}: known roots are {', '.join(FUTURE_ROOTS)}")
    m = _EXPIRY_MONTH.match(raw)
    if m and m.group(1) in FUTURE_ROOTS:
        return SymbolSpec("future", m.group(1), m.group(2))
    m = _EXPIRY_CODE.match(raw)
    if m and m.group(1) in FUTURE_ROOTS:
        return _coded(m, today)
    if raw in INDEXES:
        return SymbolSpec("index", raw)
    m = _PAIR.match(raw.replace("/", "."))
    if m and m.group(1) in CURRENCIES and m.group(2) in CURRENCIES and m.group(1) != m.group(2):
        return SymbolSpec("forex", f"{m.group(1)}.{m.group(2)}")
    key = _CLASS_SHARE.sub(r"\1 \2", raw)
    if not _STOCK.match(key):
        raise ContractError(f"{text!r} is not a valid symbol (stock AAPL, forex EURUSD, future /ES or ESZ6, "
                            f"index SPX)")
    return SymbolSpec("stock", key)


def _coded(m: re.Match, today: date) -> SymbolSpec:
    root, code, digits = m.groups()
    return SymbolSpec("future", root, f"{_year(digits, today)}{MONTH_CODES.index(code) + 1:02d}")


def hint(text: str) -> str:
    """How to ask for the future when a bare root was taken as a stock (``ES`` -> ``/ES``), else ""."""
    if not isinstance(text, str):
        return ""
    raw = text.strip().upper()
    if raw in FUTURE_ROOTS:
        return f"{raw} is the stock; for the {FUTURE_ROOTS[raw][2]} future write /{raw} (front month) or {raw}Z6"
    return ""


def display_symbol(contract: Contract) -> str:
    """How the kit writes a qualified contract: ``ESZ6`` (a future's local symbol), ``EURUSD``, ``SPX``, ``AAPL``."""
    sec_type = getattr(contract, "secType", "")
    if sec_type == "FUT" and contract.localSymbol:
        return contract.localSymbol.replace(" ", "")
    if sec_type == "CASH":
        return f"{contract.symbol}{contract.currency}"
    return contract.symbol


def what_to_show(contract: Contract) -> str:
    """The bar type of real-time bars and backfill for ``contract``: MIDPOINT for forex, TRADES otherwise."""
    return "MIDPOINT" if getattr(contract, "secType", "") == "CASH" else "TRADES"
