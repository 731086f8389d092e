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
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING

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
#: exchange names a request may use for an instrument listed on ``primary``
EXCHANGE_ALIASES = {"NASDAQ": {"NASDAQ", "ISLAND"}, "NYSE": {"NYSE"}, "ARCA": {"ARCA", "NYSEARCA"},
                    "BATS": {"BATS", "BYX"}, "IDEALPRO": {"IDEALPRO"}}


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

    @property
    def is_forex(self) -> bool:
        return self.sec_type == FOREX

    @property
    def symbol(self) -> str:
        """IB's ``symbol`` field: the base currency for forex (``EUR``), the ticker otherwise."""
        return self.key.split(".")[0] if self.is_forex else self.key

    @property
    def local_symbol(self) -> str:
        return self.key

    @property
    def min_tick(self) -> float:
        if not self.is_forex:
            return 0.01
        return 0.005 if self.currency == "JPY" else 0.00005

    @property
    def scale(self) -> int:
        """Integer price units per 1.0 of price in the synthetic market (cents for stocks)."""
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

    def __len__(self) -> int:
        return len(self.instruments)

    def __iter__(self):
        return iter(self.instruments)

    def stocks(self) -> list[Instrument]:
        """Stocks and ETFs (what a stock scanner iterates)."""
        return [i for i in self.instruments if not i.is_forex]

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
        smart = ("", "SMART") if not inst.is_forex else ("",)
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
        first = sorted((i for i in self.instruments if i.key.startswith(p)),
                       key=lambda i: (i.key != p, -i.market_cap, i.key))
        seen = {i.key for i in first}
        more = sorted((i for i in self.instruments if i.key not in seen and p in i.long_name),
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


_UNIVERSE: Universe | None = None


def universe() -> Universe:
    """The built-in universe (read from the package data file once per process)."""
    global _UNIVERSE
    if _UNIVERSE is None:
        text = resources.files(__package__).joinpath("data/universe.csv").read_text(encoding="utf-8")
        _UNIVERSE = Universe(_read(text))
    return _UNIVERSE
