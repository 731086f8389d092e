"""A whole book, pure: one account trading a rule's breakouts on many symbols at once.

Every symbol's signals, entries and exits follow :func:`~breakout_kit.core.backtest.backtest`'s fill rules exactly
(the same engine as ``sweep``); the book then decides, in time order, which entries it can take:

* a symbol holds at most one position (as in ``backtest``: an entry on or before its last exit bar is skipped);
* at most ``max_positions`` positions at once; a position frees its slot for entries strictly after its exit bar's
  start; entries at the same time are taken in the order of ``data``'s symbols;
* sizing: ``"shares"`` (``quantity`` shares, default 100, as ``backtest``), ``"equity_pct"`` (``position_pct`` % of
  the book's equity, default ``100 / max_positions``) or ``"risk"`` (lose ``risk_pct`` % of the equity if the stop
  is hit: ``shares = equity * risk_pct / 100 / (entry - stop)``). Equity for sizing is the capital plus the P&L
  realised before the entry (open positions are not marked: a choice, so that sizing never depends on prices
  the book could not have acted on);
* no margin: an entry never spends more than the cash left (shares are cut to what the cash buys after fees; an
  entry that can buy none is skipped with reason ``"cash"``).

Equity is cash plus every open position at its symbol's last close, on the union of all symbols' bar times. With
one symbol, ``sizing="shares"`` and capital to spare, the trades equal ``backtest``'s row for row.

``benchmark``: a symbol of ``data`` (default ``"SPY"``, used when present; it is then not traded) or a bar frame;
its buy-and-hold equity from the same capital is ``result.benchmark`` and in ``.plot()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breakout_kit.core.backtest import ENTRIES, TRADE_COLUMNS, _check_pct, _check_positive
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.core.costs import cost_model, trade_pnl
from breakout_kit.core.sessions import check_session
from breakout_kit.core.stats import SESSIONS_PER_YEAR, _ratios, max_drawdown_pct, session_days
from breakout_kit.core.sweep import REASONS, _candidates, _check_holding, bars_of, exits

__all__ = ["SIZINGS", "PortfolioResult", "portfolio"]

SIZINGS = ("shares", "equity_pct", "risk")
PORTFOLIO_STATS = ["trades", "signals", "skipped_max_positions", "skipped_cash", "win_rate_pct", "total_return_pct",
                   "final_equity", "max_drawdown_pct", "profit_factor", "exposure_pct", "max_open_positions",
                   "sharpe_daily", "sortino_daily", "cagr_pct", "expectancy", "benchmark_return_pct",
                   "benchmark_max_drawdown_pct"]


@dataclass
class PortfolioResult:
    """``equity`` (the book, at every bar time of any symbol), ``trades`` (with ``symbol``), ``stats``,
    ``positions`` (open positions over time), ``benchmark`` (buy-and-hold equity, or None) and ``skipped``
    (signals the book could not take, with the reason)."""

    equity: pd.Series
    trades: pd.DataFrame
    stats: pd.Series
    positions: pd.Series
    benchmark: pd.Series | None = None
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)

    def plot(self, title: str | None = None, tz: str | None = "America/New_York"):
        """A plotly Figure: the book's equity against the benchmark, and the open positions below; times shown in
        ``tz`` (the exchange's by default; None keeps them as stored)."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        def shown(series: pd.Series):
            times = pd.DatetimeIndex(series.index)
            return times.tz_convert(tz).tz_localize(None) if tz and times.tz is not None else times

        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[3, 1], vertical_spacing=0.04,
                            subplot_titles=["equity", "open positions"])
        fig.add_trace(go.Scatter(x=shown(self.equity), y=self.equity, name="book", mode="lines"), row=1, col=1)
        if self.benchmark is not None:
            fig.add_trace(go.Scatter(x=shown(self.benchmark), y=self.benchmark, name=f"{self.benchmark.name} "
                                     "buy & hold", mode="lines", line={"dash": "dot"}), row=1, col=1)
        fig.add_trace(go.Scatter(x=shown(self.positions), y=self.positions, name="positions", mode="lines",
                                 line_shape="hv", showlegend=False), row=2, col=1)
        fig.update_layout(title=title or "portfolio", height=560, template="plotly_white")
        return fig


@dataclass
class _Symbol:
    name: str
    times: pd.DatetimeIndex
    close: np.ndarray
    signals: int
    cands: list = field(default_factory=list)   # (entry time ns, entry bar, exit bar, ep, xp, stop, reason)


def _symbol(name, bars, rule, f) -> _Symbol:
    b = bars_of(bars, f["session_tz"], f["session"])
    cand = _candidates(b, rule, f["entry"])
    x = exits(b, cand, f["take_profit_pct"], f["stop_loss_pct"], f["max_holding_bars"],
              f["flat_at_session_end"], f["costs"])
    keep = np.flatnonzero(x.valid)
    s = _Symbol(name, b.times, b.c, cand.signals)
    s.cands = list(zip(b.times_ns[x.e_idx[keep]].tolist(), x.e_idx[keep].tolist(), x.xi[keep].tolist(),
                       x.ep[keep].tolist(), x.xp[keep].tolist(), x.sl[keep].tolist(), x.reason[keep].tolist()))
    return s


def _size(f, equity: float, ep: float, stop: float) -> float:
    if f["sizing"] == "shares":
        return f["quantity"]
    if f["sizing"] == "equity_pct":
        return math.floor(equity * f["position_pct"] / 100.0 / ep)
    risk = ep - stop
    return math.floor(equity * f["risk_pct"] / 100.0 / risk) if risk > 0 else 0.0


def _buyable(f, q: float, ep: float, cash: float) -> float:
    """``q`` cut to what ``cash`` pays for, fees included."""
    costs = f["costs"]

    def cost(shares: float) -> float:
        return shares * ep + float(costs.fees(np.array([shares]), np.array([ep]), sale=False)[0])

    if q > 0 and cost(q) > cash:
        q = float(math.floor(cash / ep))
        while q > 0 and cost(q) > cash:
            q -= 1.0
    return q


def _walk(symbols: list[_Symbol], f) -> tuple[list, list]:
    """The book's decisions in time order: accepted trades and skipped signals."""
    order = sorted(((c[0], k, j) for k, s in enumerate(symbols) for j, c in enumerate(s.cands)))
    capital = f["capital"]
    cash, realised = capital, 0.0
    last_exit = [-1] * len(symbols)
    open_: list[tuple[int, float, float]] = []     # (exit time ns, cash back at exit, P&L)
    taken, skipped = [], []
    for t_ns, k, j in order:
        s = symbols[k]
        _t, ei, xi, ep, xp, stop, reason = s.cands[j]
        if ei <= last_exit[k]:
            continue                                 # this symbol is still in a position: as backtest
        still = []
        for exit_ns, back, pnl in open_:
            if exit_ns < t_ns:
                cash += back
                realised += pnl
            else:
                still.append((exit_ns, back, pnl))
        open_ = still
        if len(open_) >= f["max_positions"]:
            skipped.append((s.name, s.times[ei], "max_positions"))
            continue
        q = _buyable(f, _size(f, capital + realised, ep, stop), ep, cash)
        if q <= 0:
            skipped.append((s.name, s.times[ei], "cash"))
            continue
        fees, pnls = trade_pnl(f["costs"], np.array([ep]), np.array([xp]), np.array([q]))
        fee_in, pnl = float(fees[0]), float(pnls[0])
        cash -= q * ep + fee_in
        open_.append((int(s.times[xi].value), q * ep + fee_in + pnl, pnl))
        last_exit[k] = xi
        taken.append((k, ei, xi, ep, xp, q, reason))
    return taken, skipped


def _equity(symbols: list[_Symbol], taken: list, f) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    index: pd.DatetimeIndex = symbols[0].times
    for s in symbols[1:]:
        index = pd.DatetimeIndex(index.union(s.times))
    flows = np.zeros(len(index))
    value = np.zeros(len(index))
    count = np.zeros(len(index))
    rows = []
    for k, s in enumerate(symbols):
        mine = [t for t in taken if t[0] == k]
        qty = np.zeros(len(s.times) + 1)
        held = np.zeros(len(s.times) + 1)
        if mine:
            _k, ei, xi, ep, xp, q, reason = (np.asarray(a) for a in zip(*mine))
            fee_in, pnl = trade_pnl(f["costs"], ep.astype(float), xp.astype(float), q.astype(float))
            np.add.at(qty, ei, q)
            np.add.at(qty, xi, -q)
            np.add.at(held, ei, 1)
            np.add.at(held, xi, -1)
            at_entry = index.get_indexer(s.times[ei])
            at_exit = index.get_indexer(s.times[xi])
            np.add.at(flows, at_entry, -(q * ep + fee_in))
            np.add.at(flows, at_exit, q * ep + fee_in + pnl)
            rows.append(pd.DataFrame({
                "symbol": s.name, "entry_time": s.times[ei], "entry_price": ep, "exit_time": s.times[xi],
                "exit_price": xp, "quantity": q, "pnl": pnl, "return_pct": pnl / (ep * q) * 100.0,
                "exit_reason": REASONS[reason.astype(np.int64)], "bars_held": xi - ei}))
        # shares held over each bar's close (entry bar .. exit bar - 1), at that close; then carried to the union
        shares = np.cumsum(qty)[:-1]
        own = pd.Series(shares * s.close, index=s.times)
        value += own.reindex(index, method="ffill").fillna(0.0).to_numpy()
        count += pd.Series(np.cumsum(held)[:-1], index=s.times).reindex(index, method="ffill").fillna(0).to_numpy()
    equity = pd.Series(f["capital"] + np.cumsum(flows) + value, index=index, name="equity")
    trades = (pd.concat(rows, ignore_index=True).sort_values(["entry_time", "symbol"], kind="stable")
              .reset_index(drop=True) if rows else pd.DataFrame(columns=["symbol", *TRADE_COLUMNS]))
    return equity, pd.Series(count.astype(int), index=index, name="positions"), trades


def _book_stats(equity: pd.Series, trades: pd.DataFrame, positions: pd.Series, benchmark: pd.Series | None,
                signals: int, skipped: pd.DataFrame, f) -> pd.Series:
    capital = f["capital"]
    eq = equity.to_numpy()
    days = session_days(pd.DatetimeIndex(equity.index), f["session_tz"])
    closes = equity.groupby(days).last().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        daily = closes / np.r_[capital, closes[:-1]] - 1.0
    sharpe, sortino = _ratios(daily, math.sqrt(SESSIONS_PER_YEAR))
    pnl = trades["pnl"].to_numpy(dtype=float)
    wins, losses = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    pf = (wins / losses if losses > 0 else (math.inf if wins > 0 else math.nan)) if pnl.size else math.nan
    growth = eq[-1] / capital
    sessions = len(closes)
    reasons = skipped["reason"].value_counts() if len(skipped) else pd.Series(dtype=int)
    bench_ret = bench_dd = math.nan
    if benchmark is not None:
        b = benchmark.to_numpy()
        bench_ret = (b[-1] / capital - 1.0) * 100.0
        bench_dd = max_drawdown_pct(b)
    return pd.Series({
        "trades": int(pnl.size), "signals": signals,
        "skipped_max_positions": int(reasons.get("max_positions", 0)), "skipped_cash": int(reasons.get("cash", 0)),
        "win_rate_pct": float((pnl > 0).mean() * 100.0) if pnl.size else math.nan,
        "total_return_pct": float((growth - 1.0) * 100.0), "final_equity": float(eq[-1]),
        "max_drawdown_pct": max_drawdown_pct(np.r_[capital, eq]), "profit_factor": float(pf),
        "exposure_pct": float((positions.to_numpy() > 0).mean() * 100.0),
        "max_open_positions": int(positions.max()) if len(positions) else 0,
        "sharpe_daily": sharpe, "sortino_daily": sortino,
        "cagr_pct": (growth ** (SESSIONS_PER_YEAR / sessions) - 1.0) * 100.0 if growth > 0 else -100.0,
        "expectancy": float(pnl.mean()) if pnl.size else math.nan,
        "benchmark_return_pct": bench_ret, "benchmark_max_drawdown_pct": bench_dd,
    }, index=PORTFOLIO_STATS, dtype=object, name="stats")


def _benchmark(bench, data, index: pd.DatetimeIndex, f) -> pd.Series | None:
    if bench is None:
        return None
    if isinstance(bench, str):
        if bench not in data:
            return None
        name, frame = bench, data[bench]
    else:
        name, frame = "benchmark", bench
    b = bars_of(frame, f["session_tz"], f["session"])
    closes = pd.Series(b.c, index=b.times).reindex(index, method="ffill")
    first = closes.first_valid_index()
    if first is None:
        return None
    return (closes / closes[first] * f["capital"]).fillna(f["capital"]).rename(name)


def _share_pct(value) -> float:
    v = _check_positive("position_pct", value)
    if v > 100.0:
        raise ValueError(f"position_pct must be in (0, 100] percent of the equity, got {value!r}")
    return v


def portfolio(data: Mapping[str, pd.DataFrame], rule: BreakoutRule | None = None, *, take_profit_pct: float,
              stop_loss_pct: float, capital: float = 100_000.0, max_positions: int = 5, sizing: str = "shares",
              quantity: float = 100.0, position_pct: float | None = None, risk_pct: float = 1.0,
              benchmark: str | pd.DataFrame | None = "SPY", entry: str = "next_open",
              max_holding_bars: int | None = None, flat_at_session_end: bool = False,
              session: str = "extended", session_tz: str = "America/New_York", commission: float | str = 0.0,
              min_commission: float = 0.0, regulatory_fees: bool = False, tick: float | None = None,
              slippage_ticks: float = 0.0) -> PortfolioResult:
    """Trade ``rule``'s up breakouts on every symbol of ``data`` (``{symbol: bars}``) from one account of
    ``capital`` with at most ``max_positions`` open at once (book rules and sizing: module doc). The trade keywords
    are ``backtest``'s. Returns a :class:`PortfolioResult`; ``ValueError`` on bad parameters."""
    rule = BreakoutRule() if rule is None else rule
    if not isinstance(rule, BreakoutRule):
        raise TypeError(f"rule must be a BreakoutRule, got {type(rule).__name__}")
    if rule.direction == "down":
        raise ValueError("portfolio is long-only: a rule with direction='down' would never enter")
    if not isinstance(data, Mapping) or not data:
        raise ValueError("data must be a non-empty mapping {symbol: bars DataFrame}")
    if entry not in ENTRIES:
        raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
    if sizing not in SIZINGS:
        raise ValueError(f"sizing must be one of {SIZINGS}, got {sizing!r}")
    if isinstance(max_positions, bool) or not isinstance(max_positions, (int, np.integer)) or max_positions < 1:
        raise ValueError(f"max_positions must be an int >= 1, got {max_positions!r}")
    f = {"take_profit_pct": _check_pct("take_profit_pct", take_profit_pct),
         "stop_loss_pct": _check_pct("stop_loss_pct", stop_loss_pct), "entry": entry,
         "max_holding_bars": _check_holding(max_holding_bars), "flat_at_session_end": bool(flat_at_session_end),
         "session": check_session(session), "session_tz": session_tz,
         "costs": cost_model(commission, min_commission, regulatory_fees, tick, slippage_ticks),
         "capital": _check_positive("capital", capital), "max_positions": int(max_positions), "sizing": sizing,
         "quantity": _check_positive("quantity", quantity),
         "position_pct": _share_pct(100.0 / max_positions if position_pct is None else position_pct),
         "risk_pct": _check_pct("risk_pct", risk_pct)}
    traded = [s for s in data if not (isinstance(benchmark, str) and s == benchmark)]
    if not traded:
        raise ValueError(f"data holds only the benchmark {benchmark!r}: nothing to trade")
    symbols = []
    for name in traded:
        try:
            symbols.append(_symbol(name, data[name], rule, f))
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from e
    taken, skipped = _walk(symbols, f)
    equity, positions, trades = _equity(symbols, taken, f)
    skipped_df = pd.DataFrame(skipped, columns=["symbol", "time", "reason"])
    bench = _benchmark(benchmark, data, pd.DatetimeIndex(equity.index), f)
    stats = _book_stats(equity, trades, positions, bench, sum(s.signals for s in symbols), skipped_df, f)
    return PortfolioResult(equity, trades, stats, positions, bench, skipped_df)
