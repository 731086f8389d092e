"""The paper account: cash, positions, realized PnL, marks from the synthetic market, and the account streams.

State lives on the gateway (``gw.orders.portfolio``), not on a connection, so a client that reconnects sees the
same positions. Accounting follows IB: a position's average cost includes commissions; realized PnL is booked
when a fill reduces a position (net of that fill's commission); unrealized PnL is ``(mark - avgCost) * position``
with the mark = the close of the latest completed 5-second bar.

Streams (subscriptions by sessions; see account.py for the request handlers):
  positions (61/62) on every position change; account updates (6 account values, 7 portfolio items, 8 account time)
  on fills and every ``REFRESH_SECONDS`` of simulated time, like TWS's ~3-minute cadence, but at most once per
  ``MIN_REFRESH_INTERVAL`` real seconds; account summary (63/64) and accountUpdateMulti (73/74) on the same
  cadence; PnL (94) / PnL single (95) every 5 simulated seconds while something is held and on fills.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .contracts import BY_CON_ID, Instrument
from .order_messages import UNSET_DOUBLE

if TYPE_CHECKING:
    from ..server import PaperGateway
    from .outbound import Client

REFRESH_SECONDS = 180
#: TWS's refresh timer runs on the wall clock. Scaled with a fast gateway clock, a full refresh (some 80 messages per
#: subscribed connection) would go out every 30 ms at 6000x, a flood no TWS sends: so a periodic refresh that comes
#: sooner than this many real seconds after the last one is skipped (at 60x, a refresh every 3 s, none is).
MIN_REFRESH_INTERVAL = 1.0
#: Reg T intraday-style margin: 25 % of gross position value (so buying power is 4x available funds).
MARGIN_RATE = 0.25
INITIAL_CASH = 1_000_000.0

SUMMARY_TAGS = ["AccountType", "NetLiquidation", "TotalCashValue", "SettledCash", "AccruedCash", "BuyingPower", "EquityWithLoanValue", "PreviousDayEquityWithLoanValue", "GrossPositionValue", "RegTEquity", "RegTMargin", "SMA", "InitMarginReq", "MaintMarginReq", "AvailableFunds", "ExcessLiquidity", "Cushion", "FullInitMarginReq", "FullMaintMarginReq", "FullAvailableFunds", "FullExcessLiquidity", "LookAheadNextChange", "LookAheadInitMarginReq", "LookAheadMaintMarginReq", "LookAheadAvailableFunds", "LookAheadExcessLiquidity", "HighestSeverity", "DayTradesRemaining", "DayTradesRemainingT+1", "DayTradesRemainingT+2", "DayTradesRemainingT+3", "DayTradesRemainingT+4", "Leverage"]
LEDGER_TAGS = ("CashBalance", "TotalCashBalance", "AccruedCash", "StockMarketValue", "NetLiquidationByCurrency",
               "UnrealizedPnL", "RealizedPnL", "ExchangeRate")


@dataclass
class Position:
    inst: Instrument
    quantity: int = 0
    avg_cost: float = 0.0
    realized: float = 0.0          # realized PnL of this contract today


def apply_fill(pos: Position, side: int, shares: int, price: float, commission: float) -> float | None:
    """Update ``pos`` for a fill (``side`` +1 buy / -1 sell); returns the realized PnL if the fill closed shares."""
    q, avg = pos.quantity, pos.avg_cost
    if q == 0 or (q > 0) == (side > 0):
        new = q + side * shares
        pos.avg_cost = (avg * abs(q) + price * shares + side * commission) / abs(new)
        pos.quantity = new
        return None
    closed = min(shares, abs(q))
    sign = 1 if q > 0 else -1
    realized = (price - avg) * closed * sign - commission * closed / shares
    opened = shares - closed
    pos.quantity = q + side * shares
    if opened:
        pos.avg_cost = (price * opened + side * commission * opened / shares) / opened
    elif pos.quantity == 0:
        pos.avg_cost = 0.0
    pos.realized += realized
    return realized


def money(v: float) -> str:
    return f"{v:.2f}"


class Portfolio:
    """Cash, positions and valuation of the gateway's paper account, plus the streaming subscriptions."""

    def __init__(self, gw: PaperGateway, cash: float = INITIAL_CASH) -> None:
        if isinstance(cash, bool) or not isinstance(cash, (int, float)) or not math.isfinite(cash) or cash <= 0:
            raise ValueError(f"cash must be a positive number of USD, got {cash!r}")
        self.gw = gw
        self.account = gw.account
        self.initial_cash = float(cash)
        self.cash = float(cash)
        self.positions: dict[int, Position] = {}
        self.commissions = 0.0
        # subscriptions
        self.position_subs: set[Client] = set()
        self.account_subs: set[Client] = set()
        self.summary_subs: dict[tuple[int, int], tuple[Client, int, list[str]]] = {}
        self.multi_subs: dict[tuple[int, int], tuple[Client, int]] = {}
        self.pnl_subs: dict[tuple[int, int], tuple[Client, int]] = {}
        self.pnl_single_subs: dict[tuple[int, int], tuple[Client, int, int]] = {}
        self._refreshed_at = -math.inf      # time.monotonic() of the last periodic refresh

    # ---- state ---------------------------------------------------------------------------------------------
    def position(self, con_id: int) -> Position:
        pos = self.positions.get(con_id)
        if pos is None:
            pos = self.positions[con_id] = Position(BY_CON_ID[con_id])
        return pos

    def book_fill(self, inst: Instrument, side: int, shares: int, price: float, commission: float) -> float | None:
        """Book one execution: cash, position, realized PnL. Returns the realized PnL (None for opening fills)."""
        value = price * inst.multiplier          # per share, or per contract (IB's avgCost of a future)
        self.cash -= side * shares * value + commission
        self.commissions += commission
        return apply_fill(self.position(inst.con_id), side, shares, value, commission)

    def mark(self, inst: Instrument) -> float:
        """The latest completed 5-second close at the gateway clock (the average cost if no bar is known)."""
        got = self.gw.market.last_bar(inst.key, self.gw.clock.epoch())
        if got is None:
            pos = self.positions.get(inst.con_id)
            return pos.avg_cost / inst.multiplier if pos else 0.0
        db, i = got
        return int(db.c[i]) / db.scale

    def mark_value(self, inst: Instrument) -> float:
        """The mark of one share or contract (price x multiplier), comparable with ``avg_cost``."""
        return self.mark(inst) * inst.multiplier

    def held(self) -> list[Position]:
        return [p for p in self.positions.values() if p.quantity]

    def values(self) -> dict[str, float]:
        """Numeric account values (USD) marked to the market now."""
        stock = unrealized = 0.0
        gross = 0.0
        for p in self.held():
            m = self.mark_value(p.inst)
            stock += p.quantity * m
            gross += abs(p.quantity * m)
            unrealized += (m - p.avg_cost) * p.quantity
        realized = sum(p.realized for p in self.positions.values())
        net = self.cash + stock
        margin = MARGIN_RATE * gross
        available = net - margin
        return {
            "NetLiquidation": net, "TotalCashValue": self.cash, "SettledCash": self.cash, "AccruedCash": 0.0,
            "BuyingPower": max(0.0, available) / MARGIN_RATE, "EquityWithLoanValue": net,
            "PreviousDayEquityWithLoanValue": self.initial_cash, "GrossPositionValue": gross, "RegTEquity": net,
            "RegTMargin": 2 * margin, "SMA": max(0.0, net - 2 * margin), "InitMarginReq": margin,
            "MaintMarginReq": margin, "AvailableFunds": available, "ExcessLiquidity": available,
            "Cushion": available / net if net else 0.0, "FullInitMarginReq": margin, "FullMaintMarginReq": margin,
            "FullAvailableFunds": available, "FullExcessLiquidity": available, "LookAheadInitMarginReq": margin,
            "LookAheadMaintMarginReq": margin, "LookAheadAvailableFunds": available,
            "LookAheadExcessLiquidity": available, "Leverage": gross / net if net else 0.0,
            "StockMarketValue": stock, "UnrealizedPnL": unrealized, "RealizedPnL": realized,
            "CashBalance": self.cash, "TotalCashBalance": self.cash, "NetLiquidationByCurrency": net,
        }

    def tag_rows(self, tags: list[str] | None = None) -> list[tuple[str, str, str]]:
        """(tag, value, currency) rows as TWS words them; ``tags`` as in reqAccountSummary (None = everything)."""
        v = self.values()
        text = {
            "AccountType": ("INDIVIDUAL", ""), "Cushion": (f"{v['Cushion']:.6f}", ""),
            "Leverage": (f"{v['Leverage']:.2f}", ""), "LookAheadNextChange": ("0", ""),
            "HighestSeverity": ("0", ""), "DayTradesRemaining": ("-1", ""),
            **{f"DayTradesRemainingT+{k}": ("-1", "") for k in range(1, 5)},
        }
        wanted = SUMMARY_TAGS + ["StockMarketValue", "UnrealizedPnL", "RealizedPnL", "CashBalance",
                                 "TotalCashBalance", "NetLiquidationByCurrency"] if tags is None else tags
        rows: list[tuple[str, str, str]] = []
        for tag in wanted:
            if tag.startswith("$LEDGER"):
                for t in LEDGER_TAGS:
                    val = "1.00" if t == "ExchangeRate" else money(v[t]) if t in v else "0.00"
                    rows.append((t, val, "USD"))
                continue
            if tag in text:
                rows.append((tag, *text[tag]))
            elif tag in v:
                rows.append((tag, money(v[tag]), "USD"))
        return rows

    # ---- wire formats ----------------------------------------------------------------------------------------
    def position_msg(self, p: Position) -> tuple:
        i = p.inst
        return (61, 3, self.account, *i.contract_fields("SMART" if i.is_stock else i.primary), p.quantity,
                p.avg_cost)

    def portfolio_msg(self, p: Position) -> tuple:
        i = p.inst
        m = self.mark(i)
        value = m * i.multiplier
        unrealized = (value - p.avg_cost) * p.quantity if p.quantity else 0.0
        return (7, 8, *i.contract_fields(i.primary), p.quantity, m, round(p.quantity * value, 2), p.avg_cost,
                round(unrealized, 2), round(p.realized, 2), self.account)

    def send_positions(self, session: Client) -> None:
        for p in self.held():
            session.send(*self.position_msg(p))
        session.send(62, 1)

    def send_account(self, session: Client, con_ids=None) -> None:
        """Account values + portfolio items (all, or those of ``con_ids``) + account time."""
        for tag, value, currency in self.tag_rows():
            session.send(6, 2, tag, value, currency, self.account)
        session.send(6, 2, "AccountCode", self.account, "", self.account)
        for p in self.positions.values():
            if (con_ids is None and p.quantity) or (con_ids is not None and p.inst.con_id in con_ids):
                session.send(*self.portfolio_msg(p))
        session.send(8, 1, f"{self.gw.clock.now():%H:%M}")

    def send_summary(self, session: Client, req_id: int, tags: list[str], end: bool) -> None:
        for tag, value, currency in self.tag_rows(tags):
            session.send(63, 1, req_id, self.account, tag, value, currency)
        if end:
            session.send(64, 1, req_id)

    def send_multi(self, session: Client, req_id: int, end: bool) -> None:
        for tag, value, currency in self.tag_rows():
            session.send(73, 1, req_id, self.account, "", tag, value, currency)
        if end:
            session.send(74, 1, req_id)

    def send_pnl(self, session: Client, req_id: int) -> None:
        v = self.values()
        daily = v["UnrealizedPnL"] + v["RealizedPnL"]
        session.send(94, req_id, round(daily, 2), round(v["UnrealizedPnL"], 2), round(v["RealizedPnL"], 2))

    def send_pnl_single(self, session: Client, req_id: int, con_id: int) -> None:
        p = self.positions.get(con_id)
        if p is None:
            session.send(95, req_id, 0, UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE)
            return
        m = self.mark_value(p.inst)
        unrealized = (m - p.avg_cost) * p.quantity
        session.send(95, req_id, p.quantity, round(unrealized + p.realized, 2), round(unrealized, 2),
                     round(p.realized, 2), round(p.quantity * m, 2))

    # ---- streaming -------------------------------------------------------------------------------------------
    def on_fill(self, inst: Instrument) -> None:
        """Push what a fill changed to every subscriber."""
        pos = self.position(inst.con_id)
        for s in list(self.position_subs):
            s.send(*self.position_msg(pos))
        for s in list(self.account_subs):
            self.send_account(s, con_ids={inst.con_id})
        self.refresh_summaries()
        self.refresh_pnl()

    def refresh(self) -> None:
        """The periodic full refresh (every REFRESH_SECONDS of simulated time, skipped within
        MIN_REFRESH_INTERVAL real seconds of the last one)."""
        now = time.monotonic()
        if now - self._refreshed_at < MIN_REFRESH_INTERVAL:
            return
        self._refreshed_at = now
        for s in list(self.account_subs):
            self.send_account(s)
        self.refresh_summaries()

    def refresh_summaries(self) -> None:
        for s, req_id, tags in list(self.summary_subs.values()):
            self.send_summary(s, req_id, tags, end=False)
        for s, req_id in list(self.multi_subs.values()):
            self.send_multi(s, req_id, end=False)

    def refresh_pnl(self) -> None:
        for s, req_id in list(self.pnl_subs.values()):
            self.send_pnl(s, req_id)
        for s, req_id, con_id in list(self.pnl_single_subs.values()):
            self.send_pnl_single(s, req_id, con_id)

    @property
    def streams_pnl(self) -> bool:
        return bool(self.pnl_subs or self.pnl_single_subs)

    @property
    def has_subscribers(self) -> bool:
        return bool(self.account_subs or self.summary_subs or self.multi_subs or self.streams_pnl)

    def drop_session(self, session: Client) -> None:
        self.position_subs.discard(session)
        self.account_subs.discard(session)
        for subs in (self.summary_subs, self.multi_subs, self.pnl_subs, self.pnl_single_subs):
            for key in [k for k in subs if k[0] == id(session)]:
                del subs[key]
