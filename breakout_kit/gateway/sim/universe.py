"""The gateway's instruments: every S&P 500 member, the most traded US ETFs and the forex majors (model only: no
wire code here; the request handlers in ``contracts.py`` translate requests into calls on this module).

Data: ``data/universe.csv`` (package data), one row per instrument:

  symbol      IB's spelling (``BRK B``, ``BF B``); forex rows use IB's local symbol ``EUR.USD`` (the key)
  con_id      IB's conId where known (the original 36 liquid names, IBM, ORCL, BRK B, the forex pairs); otherwise
              generated, stable: ``800_000_000 + zlib.crc32(symbol) % 100_000_000`` (see ``generated_con_id``)
  sec_type    STK or CASH;  primary: NYSE, NASDAQ, ARCA, BATS (Cboe BZX) or IDEALPRO;  currency
  name        company name (IB's upper-case style);  industry: GICS sector ("Funds" for ETFs, "Forex" for CASH)
  category    GICS sub-industry (ETFs: fund type);  stock_type: COMMON, REIT, ETF (CASH for forex)
  price       reference price level;  vol: annualised volatility;  adv: average daily volume (shares)
  market_cap  USD (synthetic: price x adv x a turnover of 120-500 days)

Membership and GICS classification come from the public-domain ``datasets/s-and-p-500-companies`` list (Aug 2026);
primary exchanges from IB's listings; price levels are rough late-2025 levels for the largest names and synthetic
(log-uniform 25-500 USD from the symbol's crc32) for the rest, so the market looks plausible, not real.

The universe is read once (a few ms); nothing per instrument is generated until a request needs it.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING

from .derivatives import (
    FUTURE_EXCHANGE_ALIASES,
    INDEXES,
    LISTED,
    MONTH_CODES,
    ROOTS,
    expiries,
    future_con_id,
    local_symbol,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CORE_SYMBOLS", "FOREX", "Instrument", "Universe", "generated_con_id", "universe"]

#: the 36 liquid names of the original universe, in their original order (benchmarks iterate these)
CORE_SYMBOLS: tuple[str, ...] = (
    "AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "AMD", "INTC", "NFLX", "CSCO", "PEP", "ADBE", "AVGO",
    "QCOM", "JPM", "BAC", "WFC", "GS", "V", "XOM", "CVX", "JNJ", "PFE", "KO", "WMT", "DIS", "BA", "CAT", "T", "SPY",
    "QQQ", "IWM", "DIA", "GLD", "TLT",
)
FOREX = "CASH"
FUTURE = "FUT"
CONTFUT = "CONTFUT"
INDEX = "IND"
STOCK = "STK"
#: exchange names a request may use for an instrument listed on ``primary``
EXCHANGE_ALIASES = {"NASDAQ": {"NASDAQ", "ISLAND"}, "NYSE": {"NYSE"}, "ARCA": {"ARCA", "NYSEARCA"},
                    "BATS": {"BATS", "BYX"}, "IDEALPRO": {"IDEALPRO"}, **FUTURE_EXCHANGE_ALIASES}


def generated_con_id(symbol: str) -> int:
    """The stable conId of an instrument whose real IB conId is not in the data file."""
    return 800_000_000 + zlib.crc32(symbol.encode()) % 100_000_000


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable instrument and the parameters of its synthetic market."""

    key: str              # unique: the IB symbol for stocks ("BRK B"), the local symbol for forex ("EUR.USD")
    con_id: int
    sec_type: str         # "STK" | "CASH"
    primary: str          # primary exchange as IB names it
    currency: str
    long_name: str
    industry: str
    category: str
    stock_type: str
    price: float          # reference price level
    vol: float            # annualised volatility
    adv: int              # average daily volume (shares; 0 for forex)
    market_cap: float     # USD
    multiplier: float = 1.0
    tick: float = 0.0     # futures: the contract's tick (others: derived below)
    expiry: str = ""      # futures: last trade date YYYYMMDD
    root: str = ""        # futures: the product (tradingClass: ES, 6E); its IB symbol is ``ib_symbol``
    ib_symbol: str = ""
    series: str = ""      # the synthetic price path this instrument follows (all expiries of a root share one)

    @property
    def is_forex(self) -> bool:
        return self.sec_type == FOREX

    @property
    def is_future(self) -> bool:
        return self.sec_type == FUTURE

    @property
    def is_index(self) -> bool:
        return self.sec_type == INDEX

    @property
    def is_stock(self) -> bool:
        return self.sec_type == STOCK

    @property
    def kind(self) -> str:
        """The trading calendar this instrument follows: stock, forex, future or index."""
        return {FOREX: "forex", FUTURE: "future", INDEX: "index"}.get(self.sec_type, "stock")

    @property
    def symbol(self) -> str:
        """IB's ``symbol`` field: the base currency for forex (``EUR``), the product for futures, the ticker
        otherwise."""
        if self.is_future:
            return self.ib_symbol
        return self.key.split(".")[0] if self.is_forex else self.key

    @property
    def series_month(self) -> str:
        """A future's contract month YYYYMM (``ESZ6`` -> 202612; the last trade date may fall in another month)."""
        if not self.is_future:
            return ""
        code, digit = self.key[len(self.root)], int(self.key[-1])
        year = int(self.expiry[:4])
        year = year - year % 10 + digit
        if year < int(self.expiry[:4]) - 1:
            year += 10
        return f"{year}{MONTH_CODES.index(code) + 1:02d}"

    @property
    def local_symbol(self) -> str:
        return self.key

    def contract_fields(self, exchange: str) -> list:
        """The 11 contract fields of openOrder / execDetails / position / portfolio messages: conId, symbol,
        secType, lastTradeDateOrContractMonth, strike, right, multiplier, exchange, currency, localSymbol,
        tradingClass."""
        if self.is_future:
            return [self.con_id, self.symbol, self.sec_type, self.expiry, 0.0, "", f"{self.multiplier:g}", exchange,
                    self.currency, self.key, self.root]
        if self.is_stock:
            return [self.con_id, self.symbol, "STK", "", 0.0, "", "", exchange, self.currency, self.symbol,
                    self.symbol]
        return [self.con_id, self.symbol, self.sec_type, "", 0.0, "", "", exchange, self.currency, self.key,
                self.key]

    @property
    def trading_class(self) -> str:
        return self.root if self.is_future else self.key

    @property
    def seed_id(self) -> int:
        """What seeds the synthetic prices: the conId, or the shared series of a future's expiries."""
        return generated_con_id(self.series) if self.series else self.con_id

    @property
    def min_tick(self) -> float:
        if self.tick:
            return self.tick
        if not self.is_forex:
            return 0.01
        return 0.005 if self.currency == "JPY" else 0.00005

    @property
    def scale(self) -> int:
        """Integer price units per 1.0 of price in the synthetic market (cents for stocks, ticks for futures)."""
        if self.is_future:
            return round(1 / self.tick)
        if not self.is_forex:
            return 100
        return 1000 if self.currency == "JPY" else 100_000


class Universe:
    """All instruments, by key and by conId, with IB-style lookups."""

    def __init__(self, instruments: list[Instrument]) -> None:
        self.instruments: tuple[Instrument, ...] = tuple(instruments)
        self.by_key: dict[str, Instrument] = {i.key: i for i in self.instruments}
        self.by_con_id: dict[int, Instrument] = {i.con_id: i for i in self.instruments}
        if len(self.by_key) != len(self.instruments) or len(self.by_con_id) != len(self.instruments):
            raise ValueError("universe has duplicate symbols or conIds")
        self.futures: dict[str, list[Instrument]] = {}        # root -> expiries, nearest first
        for i in self.instruments:
            if i.is_future:
                self.futures.setdefault(i.root, []).append(i)
        for chain in self.futures.values():
            chain.sort(key=lambda i: i.expiry)

    def listed(self, root: str, today: date) -> list[Instrument]:
        """The listed expiries of a futures root on ``today``: the next ``LISTED`` not past their last trade date;
        the first is the front month (so the front rolls the day after its last trade date)."""
        d = f"{today:%Y%m%d}"
        return [i for i in self.futures.get(root.upper(), []) if i.expiry >= d][:LISTED]

    def futures_matching(self, spec_symbol: str, month: str, local_symbol: str, today: date,
                         trading_class: str = "") -> list[Instrument]:
        """Expiries a FUT request denotes: by local symbol, by month (YYYYMM) or date (YYYYMMDD), else the listed
        ones. ``spec_symbol`` is IB's symbol (EUR for 6E) or the root itself."""
        sym = spec_symbol.strip().upper()
        roots = [r for r, chain in self.futures.items()
                 if sym in (r, chain[0].ib_symbol) and (not trading_class or trading_class.upper() == r)]
        out: list[Instrument] = []
        for r in roots:
            chain = self.futures[r]
            if local_symbol:
                out += [i for i in chain if i.key == local_symbol.strip().upper()]
            elif month:
                out += [i for i in chain if i.expiry.startswith(month) or i.series_month == month]
            else:
                out += self.listed(r, today)
        return out

    def __len__(self) -> int:
        return len(self.instruments)

    def __iter__(self):
        return iter(self.instruments)

    def stocks(self) -> list[Instrument]:
        """Stocks and ETFs (what a stock scanner iterates)."""
        return [i for i in self.instruments if i.is_stock]

    def get(self, name: str) -> Instrument | None:
        """By key, case-insensitive; forex also as ``EURUSD`` / ``EUR/USD``."""
        if not isinstance(name, str):
            return None
        k = name.strip().upper()
        got = self.by_key.get(k)
        if got is None and len(k) in (6, 7) and k.replace("/", "").isalpha():
            k = k.replace("/", "")
            got = self.by_key.get(f"{k[:3]}.{k[3:]}") if len(k) == 6 else None
        return got

    def resolve(self, *, con_id: int = 0, symbol: str = "", sec_type: str = "", exchange: str = "",
                primary_exchange: str = "", currency: str = "", local_symbol: str = "") -> Instrument | None:
        """The instrument a request's contract fields denote, or None (TWS answers error 200)."""
        symbol = symbol.strip().upper()
        if con_id:
            inst = self.by_con_id.get(con_id)
        elif sec_type == FUTURE:
            inst = self.by_key.get(local_symbol.strip().upper())
        elif sec_type == FOREX:
            key = local_symbol.strip().upper() or (f"{symbol}.{currency.upper()}" if currency else "")
            inst = self.by_key.get(key)
        else:
            inst = self.by_key.get(symbol)
        if inst is None:
            return None
        if con_id and symbol and symbol != inst.symbol:
            return None
        if sec_type not in ("", inst.sec_type):
            return None
        if currency not in ("", inst.currency):
            return None
        aliases = EXCHANGE_ALIASES.get(inst.primary, {inst.primary})
        smart = ("", "SMART") if inst.is_stock else ("",)
        if exchange not in smart and exchange not in aliases:
            return None
        if primary_exchange and primary_exchange not in aliases:
            return None
        return inst

    def matching(self, pattern: str, limit: int = 16) -> list[Instrument]:
        """reqMatchingSymbols: symbols starting with ``pattern`` first (the exact symbol, then the largest
        companies), then names containing it; at most ``limit`` (IB returns at most 16)."""
        p = pattern.strip().upper()
        if not p:
            return []
        # a futures product appears once (its first expiry), as IB lists the product, not every month
        products = [i for i in self.instruments if not i.is_future] + [chain[0] for chain in self.futures.values()]
        first = sorted((i for i in products if i.key.startswith(p) or (i.is_future and i.root.startswith(p))),
                       key=lambda i: (i.key != p and i.root != p, -i.market_cap, i.key))
        seen = {i.key for i in first}
        more = sorted((i for i in products if i.key not in seen and p in i.long_name.upper()),
                      key=lambda i: -i.market_cap)
        return (first + more)[:limit]

    @cached_property
    def frame(self) -> pd.DataFrame:
        """One row per instrument (index: key): con_id, sec_type, symbol, primary, currency, name, industry,
        category, stock_type, price, vol, adv, market_cap. Built on first use (imports pandas)."""
        import pandas as pd

        rows = [{"key": i.key, "con_id": i.con_id, "sec_type": i.sec_type, "symbol": i.symbol,
                 "primary": i.primary, "currency": i.currency, "name": i.long_name, "industry": i.industry,
                 "category": i.category, "stock_type": i.stock_type, "price": i.price, "vol": i.vol,
                 "adv": i.adv, "market_cap": i.market_cap} for i in self.instruments]
        return pd.DataFrame(rows).set_index("key")


def _read(text: str) -> list[Instrument]:
    out = []
    for r in csv.DictReader(text.splitlines()):
        out.append(Instrument(
            key=r["symbol"], con_id=int(r["con_id"]), sec_type=r["sec_type"], primary=r["primary"],
            currency=r["currency"], long_name=r["name"], industry=r["industry"], category=r["category"],
            stock_type=r["stock_type"], price=float(r["price"]), vol=float(r["vol"]), adv=int(r["adv"]),
            market_cap=float(r["market_cap"])))
    return out


def _derivatives() -> list[Instrument]:
    """Futures (every expiry of every root) and indexes (``derivatives.py``)."""
    out = []
    for r in ROOTS:
        for y, m, last in expiries(r):
            local = local_symbol(r, y, m)
            out.append(Instrument(
                key=local, con_id=future_con_id(local), sec_type=FUTURE, primary=r.exchange, currency="USD",
                long_name=r.name, industry="", category="", stock_type="", price=r.price, vol=r.vol, adv=r.adv,
                market_cap=0.0, multiplier=float(r.multiplier), tick=r.tick, expiry=f"{last:%Y%m%d}", root=r.symbol,
                ib_symbol=r.ib_symbol, series=f"FUT:{r.symbol}"))
    for x in INDEXES:
        out.append(Instrument(key=x.symbol, con_id=x.con_id, sec_type=INDEX, primary=x.exchange, currency="USD",
                              long_name=x.name, industry="Indices", category="", stock_type="", price=x.price,
                              vol=x.vol, adv=0, market_cap=0.0))
    return out


_UNIVERSE: Universe | None = None


def universe() -> Universe:
    """The built-in universe (read from the package data file once per process)."""
    global _UNIVERSE
    if _UNIVERSE is None:
        text = resources.files(__package__).joinpath("data/universe.csv").read_text(encoding="utf-8")
        _UNIVERSE = Universe(_read(text) + _derivatives())
    return _UNIVERSE
