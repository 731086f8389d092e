"""Contracts for ``IBClient``: qualification of the one symbol grammar (``symbols.py``) with a cache, minimum
ticks, and IB's symbol suggestions. Re-exports the contract builders of the card (``Stock``, ``Forex``, ``Future``,
``ContFuture``, ``Index``) so nothing outside ``client/`` imports the IB library."""

from __future__ import annotations

import difflib
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from breakout_kit.client.errors import ContractError
from breakout_kit.client.iblib import ContFuture, Contract, Forex, Future, Index, Stock
from breakout_kit.client.supervisor import Supervisor
from breakout_kit.client.symbols import FUTURE_ROOTS, INDEXES, SymbolSpec, parse_symbol


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
        """The unique IB contract for a symbol in the one grammar (``client/symbols.py``: ``AAPL``, ``EURUSD``,
        ``/ES``, ``ESZ6``, ``ES 202612``, ``SPX``) or a partial ``Contract``; cached (the front month of ``/ES`` for
        the day it was asked).

        Raises ``ContractError`` naming the symbol when IB knows no such contract (with IB's near matches) or
        several match.
        """
        if isinstance(symbol_or_contract, Contract):
            contract, key, spec = symbol_or_contract, None, None
            name = contract.symbol or contract.localSymbol or str(contract.conId)
            if contract.conId and contract.exchange:
                return contract
        else:
            spec = parse_symbol(symbol_or_contract)
            name = spec.symbol if spec.kind == "stock" else symbol_or_contract.strip().upper()
            key = f"{spec.kind}:{spec.symbol}:{spec.month}" + (f":{date.today()}" if spec.kind == "front" else "")
            if key in self._contracts:
                return self._contracts[key]
            contract = spec.contract()
        self._conn.require_connection()
        details = await self._conn.ib.reqContractDetailsAsync(contract)
        if spec is not None and spec.kind == "front" and details:
            # IB lists only expiries still trading (by its clock, not ours): the front month is the first of them
            details = [min(details, key=lambda d: d.contract.lastTradeDateOrContractMonth)]
        if not details:
            raise ContractError(await self._unknown(name, spec))
        if len(details) > 1:
            where = ", ".join(sorted({d.contract.primaryExchange or d.contract.exchange for d in details}))
            raise ContractError(f"ambiguous symbol {name}: {len(details)} contracts match ({where}); "
                                f"pass a Contract with primaryExchange or conId")
        d = details[0]
        qualified = d.contract
        if contract.exchange:
            qualified.exchange = contract.exchange       # keep SMART routing, as qualifyContracts does
        if qualified.secType == "FUT" and qualified.exchange == "GLOBEX":
            qualified.exchange = "CME"
        self._min_ticks[qualified.conId] = float(d.minTick or 0.01)
        if key:
            self._contracts[key] = qualified
        return qualified

    async def _unknown(self, name: str, spec: SymbolSpec | None) -> str:
        """The one-line error for a symbol IB does not know, with its near matches."""
        text = f"unknown symbol {name}: IB has no matching contract"
        if spec is None:
            return text
        near = []
        try:
            near = await self.matching_symbols(spec.symbol.replace(".", "")[:4])
        except Exception:  # noqa: BLE001  (suggestions are a courtesy: the error is the answer)
            near = []
        near += difflib.get_close_matches(spec.symbol, [*FUTURE_ROOTS, *INDEXES], n=3, cutoff=0.5)
        near = [n for n in dict.fromkeys(near) if n != spec.symbol][:6]
        if spec.kind == "stock" and spec.symbol in FUTURE_ROOTS:
            text += f"; for the {FUTURE_ROOTS[spec.symbol][2]} future write /{spec.symbol}"
        if near:
            text += f" (near: {', '.join(near)})"
        return text

    async def min_tick(self, symbol_or_contract: str | Contract) -> float:
        """The contract's minimum price increment (from its contract details)."""
        contract = await self.qualify(symbol_or_contract)
        if contract.conId not in self._min_ticks:
            details = await self._conn.ib.reqContractDetailsAsync(contract)
            self._min_ticks[contract.conId] = float(details[0].minTick or 0.01) if details else 0.01
        return self._min_ticks[contract.conId]

    async def matching_symbols(self, pattern: str) -> list[str]:
        """Symbols IB suggests for ``pattern``, written in the grammar (``AAPL``, ``SPX``, ``/ES``, ``EURUSD``;
        IB allows about one such request per second)."""
        pattern = (pattern or "").strip().lstrip("/")
        if not pattern:
            return []
        self._conn.require_connection()
        found = await self._conn.ib.reqMatchingSymbolsAsync(pattern) or []
        out = []
        for d in found:
            c = d.contract
            if c.secType in ("STK", "IND"):
                out.append(c.symbol)
            elif c.secType == "CASH":
                out.append(f"{c.symbol}{c.currency}")
            elif c.secType == "FUT":
                root = next((r for r, v in FUTURE_ROOTS.items() if v[0] == c.symbol), c.symbol)
                out.append(f"/{root}")
        return list(dict.fromkeys(out))


__all__ = ["ContFuture", "Contracts", "Forex", "Future", "Index", "Stock", "round_to_tick"]
