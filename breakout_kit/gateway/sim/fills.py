"""Pure fill rules and commissions (no I/O): what a working order does against one completed 5-second bar.

Prices are integer cents. The quote at a bar's end is its close +/- ``BarCents.half_spread`` (a stock's one basis
point, at least a cent: ``market.half_spread_cents``; a future's one tick), the same quote the gateway's market-data
ticks show.

* MKT: buys at the ask, sells at the bid.
* LMT: fills at the quote when it is marketable (price improvement), else at the limit when the bar traded
  *through* it (low below a buy limit / high above a sell limit; a mere touch does not fill).
* STP: triggers when the bar touches the stop (high >= buy stop, low <= sell stop), then fills like a market order
  at the worse of stop and close, plus the half spread (slippage).
* STP LMT: triggers like STP, then works as a limit (on the trigger bar only if marketable at the close quote).
* Size: at most ``volume_share`` of the bar's volume (but at least one round lot) fills per bar; the rest stays
  working (partial fills).
* Commission: stocks per share with a minimum and a cap (``commission_due``), futures a flat rate per contract
  (``future_commission_due``). The margin check (orders.py) counts a future's notional, points x multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

from .market import half_spread_cents

#: IB-tiered-like commission: per share, minimum per order, maximum 1 % of the trade value.
COMMISSION_PER_SHARE = 0.005
MIN_COMMISSION = 1.00
MAX_COMMISSION_PCT = 0.01
#: IB's fixed rate for US futures, per contract (exchange and regulatory fees included); stock schedules don't apply
FUTURE_COMMISSION_PER_CONTRACT = 0.85
#: Share of a 5-second bar's volume one order may take.
VOLUME_SHARE = 0.10
ROUND_LOT = 100


@dataclass(frozen=True)
class BarCents:
    """One completed 5-second bar in cents (plus volume in shares)."""

    open: int
    high: int
    low: int
    close: int
    volume: int
    half: int = 0         # half the spread in cents; 0: one basis point (stocks). Futures: one tick.

    @property
    def half_spread(self) -> int:
        """Half the quote's spread in cents: one tick for a future, one basis point (at least a cent) else."""
        return self.half or half_spread_cents(self.close)

    @property
    def bid(self) -> int:
        return self.close - self.half_spread

    @property
    def ask(self) -> int:
        return self.close + self.half_spread


def to_cents(price: float) -> int:
    return round(price * 100)


def triggered(buy: bool, stop_cents: int, bar: BarCents) -> bool:
    """Whether a stop is touched during ``bar``."""
    return bar.high >= stop_cents if buy else bar.low <= stop_cents


def fill_price(order_type: str, buy: bool, bar: BarCents, limit: int | None, stop: int | None,
               stop_triggered: bool, triggered_now: bool) -> int | None:
    """The fill price in cents of an order working during ``bar``, or None if it does not fill.

    ``stop_triggered`` says the stop (STP / STP LMT) has been triggered (in this bar or before); ``triggered_now``
    that it happened in this very bar.
    """
    quote = bar.ask if buy else bar.bid
    if order_type == "MKT":
        return quote
    if order_type == "LMT":
        assert limit is not None
        if (quote <= limit) if buy else (quote >= limit):
            return quote
        traded_through = bar.low < limit if buy else bar.high > limit
        return limit if traded_through else None
    if order_type == "STP":
        assert stop is not None
        if not stop_triggered:
            return None
        half = bar.half_spread           # a future's slippage is one tick: its fill stays on the tick grid
        return max(stop, bar.close) + half if buy else min(stop, bar.close) - half
    if order_type == "STP LMT":
        assert limit is not None
        if not stop_triggered:
            return None
        if (quote <= limit) if buy else (quote >= limit):
            return quote
        if triggered_now:
            return None
        traded_through = bar.low < limit if buy else bar.high > limit
        return limit if traded_through else None
    raise ValueError(f"unsupported order type {order_type!r}")


def fill_size(remaining: int, bar_volume: int, volume_share: float = VOLUME_SHARE) -> int:
    """Shares that can fill in one bar: ``volume_share`` of its volume, at least a round lot, at most what is left."""
    cap = max(ROUND_LOT, int(bar_volume * volume_share))
    return min(remaining, cap)


def commission_due(shares: float, value: float, per_share: float = COMMISSION_PER_SHARE,
                   minimum: float = MIN_COMMISSION, max_pct: float = MAX_COMMISSION_PCT) -> float:
    """Total commission for an order that has filled ``shares`` worth ``value`` so far (0 before any fill)."""
    if shares <= 0:
        return 0.0
    fee = max(minimum, per_share * shares)
    return round(min(fee, max(minimum, max_pct * value)), 6)


def future_commission_due(contracts: float, per_contract: float = FUTURE_COMMISSION_PER_CONTRACT) -> float:
    """Total commission for a futures order that has filled ``contracts`` so far: a flat rate per contract."""
    return round(per_contract * contracts, 6) if contracts > 0 else 0.0
