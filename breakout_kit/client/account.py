"""The account for ``IBClient``: positions (with marks), today's PnL and the account summary, as DataFrames."""

from __future__ import annotations

import asyncio
import math

import pandas as pd

from breakout_kit.client.config import mask_account
from breakout_kit.client.supervisor import Supervisor
from breakout_kit.client.symbols import display_symbol
from breakout_kit.core.bars import whole_numbers


class Account:
    """Read-only views of the account on one supervised connection."""

    def __init__(self, conn: Supervisor) -> None:
        self._conn = conn
        self._pnl_lock = asyncio.Lock()

    async def positions(self) -> pd.DataFrame:
        """Positions of the account: symbol (in the grammar: ``ESZ6`` for a future, ``EURUSD`` for forex),
        position, avg_cost (per share, or per contract: price x multiplier, as TWS reports it), multiplier
        (+ market price/value/PnL when known; value and PnL include the multiplier)."""
        self._conn.require_connection()
        positions = await self._conn.timed(self._conn.ib.reqPositionsAsync(), "positions")
        marks = {p.contract.conId: p for p in self._conn.ib.portfolio()}
        rows = []
        for p in positions:
            if not p.position:
                continue
            m = marks.get(p.contract.conId)
            rows.append({"account": mask_account(p.account), "symbol": display_symbol(p.contract),
                         "position": float(p.position), "avg_cost": float(p.avgCost),
                         "multiplier": float(p.contract.multiplier or 1),
                         "market_price": float(m.marketPrice) if m else math.nan,
                         "market_value": float(m.marketValue) if m else math.nan,
                         "unrealized_pnl": float(m.unrealizedPNL) if m else math.nan})
        frame = pd.DataFrame(rows, columns=["account", "symbol", "position", "avg_cost", "multiplier",
                                            "market_price", "market_value", "unrealized_pnl"])
        frame["position"] = whole_numbers(frame["position"])  # shares: 10, not 10.0
        return frame

    async def pnl(self) -> dict[str, float]:
        """Today's profit and loss of the account (``reqPnL``): ``{"daily", "unrealized", "realized"}``; NaN where
        TWS does not know a value."""
        self._conn.require_connection()
        account = self._conn.account
        loop = asyncio.get_running_loop()
        first: asyncio.Future = loop.create_future()

        def on_pnl(entry) -> None:
            if entry.account == account and not first.done():
                first.set_result(entry)

        async with self._pnl_lock:     # one reqPnL per account at a time (the library keys them by account)
            return await self._pnl_once(account, first, on_pnl)

    async def _pnl_once(self, account: str, first: asyncio.Future, on_pnl) -> dict[str, float]:
        self._conn.ib.pnlEvent += on_pnl
        try:
            self._conn.ib.reqPnL(account)
            try:
                entry = await self._conn.timed(first, "PnL")
            finally:
                self._conn.ib.cancelPnL(account)
        finally:
            self._conn.ib.pnlEvent -= on_pnl
        return {"daily": _pnl_value(entry.dailyPnL), "unrealized": _pnl_value(entry.unrealizedPnL),
                "realized": _pnl_value(entry.realizedPnL)}

    async def account_summary(self) -> pd.DataFrame:
        """Account summary (NetLiquidation, TotalCashValue, BuyingPower, ...) as a DataFrame tag/value/currency."""
        self._conn.require_connection()
        values = await self._conn.timed(self._conn.ib.accountSummaryAsync(self._conn.account), "account summary")
        rows = [{"tag": v.tag, "value": _number(v.value), "currency": v.currency} for v in values]
        return pd.DataFrame(rows, columns=["tag", "value", "currency"])


def _pnl_value(value) -> float:
    """IB sends "unset" as a huge double; those (and None) become NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) and abs(v) < 1e300 else math.nan


def _number(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


__all__ = ["Account"]
