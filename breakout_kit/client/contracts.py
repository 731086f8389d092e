"""Contracts for ``IBClient``: the one symbol grammar (``BRK.B`` / ``BRK/B`` / ``BRK B``), qualification with a cache,
minimum ticks, and IB's symbol suggestions."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from breakout_kit.client.errors import ContractError
from breakout_kit.client.iblib import Contract, Stock
from breakout_kit.client.supervisor import Supervisor

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\- ]{0,11}$")
_CLASS_SHARE = re.compile(r"^([A-Z]{1,5})[./]([A-Z])$")    # BRK.B / BRK/B: IB spells share classes "BRK B"


def round_to_tick(price: float, tick: float) -> float:
    """``price`` rounded to the nearest multiple of ``tick`` (decimal arithmetic: no 0.1 + 0.2 surprises)."""
    t = Decimal(str(tick))
    return float((Decimal(str(price)) / t).quantize(Decimal(1), rounding=ROUND_HALF_UP) * t)


class Contracts:
    """Qualified contracts and their minimum ticks, cached per client."""

    def __init__(self, conn: Supervisor) -> None:
        self._conn = conn
        self._contracts: dict[str, Contract] = {}
        self._min_ticks: dict[int, float] = {}

    async def qualify(self, symbol_or_contract: str | Contract) -> Contract:
        """The unique IB contract for a US stock symbol (SMART/USD) or a partial ``Contract``; cached.

        Share classes may be written ``BRK.B``, ``BRK/B`` or IB's own ``BRK B``.

        Raises ``ContractError`` naming the symbol when IB knows no such contract or several match.
        """
        if isinstance(symbol_or_contract, Contract):
            contract, key = symbol_or_contract, None
            name = contract.symbol or contract.localSymbol or str(contract.conId)
            if contract.conId and contract.exchange:
                return contract
        else:
            if not isinstance(symbol_or_contract, str):
                raise TypeError(f"symbol must be a str or Contract, got {type(symbol_or_contract).__name__}")
            name = key = _CLASS_SHARE.sub(r"\1 \2", symbol_or_contract.strip().upper())   # BRK.B -> IB's BRK B
            if not _SYMBOL.match(key):
                raise ContractError(f"{symbol_or_contract!r} is not a valid stock symbol")
            if key in self._contracts:
                return self._contracts[key]
            contract = Stock(key, "SMART", "USD")
        self._conn.require_connection()
        details = await self._conn.ib.reqContractDetailsAsync(contract)
        if not details:
            raise ContractError(f"unknown symbol {name}: IB has no matching contract")
        if len(details) > 1:
            where = ", ".join(sorted({d.contract.primaryExchange or d.contract.exchange for d in details}))
            raise ContractError(f"ambiguous symbol {name}: {len(details)} contracts match ({where}); "
                                f"pass a Contract with primaryExchange or conId")
        d = details[0]
        qualified = d.contract
        if contract.exchange:
            qualified.exchange = contract.exchange       # keep SMART routing, as qualifyContracts does
        self._min_ticks[qualified.conId] = float(d.minTick or 0.01)
        if key:
            self._contracts[key] = qualified
        return qualified

    async def min_tick(self, symbol_or_contract: str | Contract) -> float:
        """The contract's minimum price increment (from its contract details)."""
        contract = await self.qualify(symbol_or_contract)
        if contract.conId not in self._min_ticks:
            details = await self._conn.ib.reqContractDetailsAsync(contract)
            self._min_ticks[contract.conId] = float(details[0].minTick or 0.01) if details else 0.01
        return self._min_ticks[contract.conId]

    async def matching_symbols(self, pattern: str) -> list[str]:
        """Stock symbols IB suggests for ``pattern`` (IB allows about one such request per second)."""
        pattern = (pattern or "").strip()
        if not pattern:
            return []
        self._conn.require_connection()
        found = await self._conn.ib.reqMatchingSymbolsAsync(pattern) or []
        return list(dict.fromkeys(d.contract.symbol for d in found if d.contract.secType == "STK"))


__all__ = ["Contracts", "round_to_tick"]
