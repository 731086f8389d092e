"""The contract of a decoded request: the 12 contract fields every TWS request carries (the wire layer fills it,
``contracts.resolve`` maps it to an instrument)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ContractSpec:
    """The 12 contract fields every request carries (client order)."""

    conId: int = 0
    symbol: str = ""
    secType: str = ""
    lastTradeDateOrContractMonth: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primaryExchange: str = ""
    currency: str = ""
    localSymbol: str = ""
    tradingClass: str = ""
