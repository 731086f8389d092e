"""Trading costs, pure: commission schedules, regulatory fees on sales, slippage and tick rounding.

``commission`` in :func:`~breakout_kit.core.backtest.backtest`, ``sweep`` and ``portfolio`` is either a number (money
per share, with ``min_commission`` per order: the kit's original flat model) or the name of one of IB's US stock
schedules. The schedules (IBKR's published "IBKR Pro" pricing for US stocks, read 2026; check
interactivebrokers.com/en/pricing/commissions-stocks.php, they change rarely):

* ``"ib_fixed"``: USD 0.005 per share, at least USD 1.00 per order, at most 1 % of the trade value. Exchange and
  most regulatory fees are included in IB's fixed rate (except the transaction fees below).
* ``"ib_tiered"``: the first tier (up to 300 000 shares a month): USD 0.0035 per share, at least USD 0.35 per
  order, at most 1 % of the trade value. IB adds exchange, clearing and pass-through fees on tiered; they depend on
  the venue and are **not** modelled, so this is IB's commission alone.

Where the 1 % cap is below the minimum (a very cheap, small order), the cap wins, as IB bills it.

``regulatory_fees=True`` adds the US transaction fees on every **sale** (off by default, so each schedule is exactly
IB's): the SEC Section 31 fee, USD 27.80 per million of sale value, and FINRA's Trading Activity Fee, USD 0.000166
per share sold, at most USD 8.30 per trade (the rates in force from May 2024; both are revised yearly).

Futures: ``multiplier`` (ES 50, 6E 125 000) turns points into money: a trade's P&L is ``(exit - entry) x multiplier
x contracts`` minus both orders' commissions (a number per contract; IB's stock schedules do not apply to futures),
and ``tick`` is the contract's (ES 0.25, 6E 0.00005).

Slippage: ``slippage_ticks`` ticks against the trader on every order that fills at market (entries, stops, session
and time exits); take-profit limits fill at their price. Take-profit and stop levels are rounded to ``tick`` (the
contract's minimum price increment) when it is given, as TWS requires of an order's price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from breakout_kit.core.checks import check_positive

__all__ = ["SCHEDULES", "CostModel", "Schedule", "cost_model", "trade_pnl"]

SEC_FEE_PER_DOLLAR = 27.80e-6
FINRA_TAF_PER_SHARE = 0.000166
FINRA_TAF_MAX = 8.30


@dataclass(frozen=True)
class Schedule:
    """A per-share commission with a minimum per order and a cap in percent of the trade value."""

    per_share: float
    min_per_order: float
    max_pct_of_value: float


SCHEDULES = {
    "ib_fixed": Schedule(0.005, 1.00, 1.0),
    "ib_tiered": Schedule(0.0035, 0.35, 1.0),
}


@dataclass(frozen=True)
class CostModel:
    """What an order costs: ``fees(shares, prices, sale)`` per order, and the tick/slippage price rules."""

    commission: float | str = 0.0
    min_commission: float = 0.0
    regulatory_fees: bool = False
    tick: float | None = None
    slippage_ticks: float = 0.0
    multiplier: float = 1.0

    @property
    def flat(self) -> bool:
        """The original model (a number per share, no cap, no regulatory fees): buy and sell cost the same."""
        return not isinstance(self.commission, str) and not self.regulatory_fees

    def fees(self, shares: np.ndarray, prices: np.ndarray, sale: bool) -> np.ndarray:
        """Commission (and, on a sale with ``regulatory_fees``, the SEC and FINRA fees) of each order; ``shares``
        are contracts for a future (the commission is then per contract), ``prices`` per unit (the value is
        ``shares x prices x multiplier``)."""
        prices = prices * self.multiplier
        if isinstance(self.commission, str):
            s = SCHEDULES[self.commission]
            cap = s.max_pct_of_value / 100.0 * shares * prices
            fee = np.minimum(np.maximum(s.per_share * shares, s.min_per_order), cap)
        else:
            fee = np.maximum(self.commission * shares, self.min_commission)
        if sale and self.regulatory_fees:
            fee = fee + SEC_FEE_PER_DOLLAR * shares * prices + np.minimum(FINRA_TAF_PER_SHARE * shares, FINRA_TAF_MAX)
        return fee

    @property
    def slip(self) -> float:
        """Price moved against the trader on a market fill."""
        return self.slippage_ticks * self.tick if self.tick else 0.0

    def level(self, price):
        """A take-profit / stop level as TWS accepts it: on the tick grid (unchanged without a tick)."""
        if not self.tick:
            return price
        return np.round(np.asarray(price) / self.tick) * self.tick


def _number(name: str, value, allow_zero: bool = True) -> float:
    return check_positive(name, value, allow_zero)


def cost_model(commission=0.0, min_commission=0.0, regulatory_fees=False, tick=None,
               slippage_ticks=0.0, multiplier=1.0) -> CostModel:
    """Validate the cost keywords shared by backtest, sweep and portfolio (one clear ``ValueError`` each)."""
    if isinstance(commission, str):
        if commission not in SCHEDULES:
            raise ValueError(f"commission must be a number per share or one of {list(SCHEDULES)}, got {commission!r}")
        if min_commission:
            raise ValueError(f"min_commission is part of the {commission!r} schedule: leave it at 0")
    else:
        commission = _number("commission", commission)
    min_commission = _number("min_commission", min_commission)
    if not isinstance(regulatory_fees, (bool, np.bool_)):
        raise TypeError(f"regulatory_fees must be True or False, got {regulatory_fees!r}")
    tick = None if tick is None else _number("tick", tick, allow_zero=False)
    slippage_ticks = _number("slippage_ticks", slippage_ticks)
    if slippage_ticks and tick is None:
        raise ValueError("slippage_ticks needs tick= (the contract's minimum price increment, e.g. 0.01)")
    multiplier = _number("multiplier", multiplier, allow_zero=False)
    return CostModel(commission, min_commission, bool(regulatory_fees), tick, slippage_ticks, multiplier)


def trade_pnl(costs: CostModel, ep: np.ndarray, xp: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(entry fee, net P&L)`` of long round trips: bought ``q`` at ``ep``, sold at ``xp``, both orders' fees paid;
    a future's P&L is points x multiplier x contracts."""
    fee_in = costs.fees(q, ep, sale=False)
    fee_out = fee_in if costs.flat else costs.fees(q, xp, sale=True)
    return fee_in, (xp - ep) * q * costs.multiplier - fee_in - fee_out
