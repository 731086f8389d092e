"""Performance statistics of a backtest, from plain arrays (shared by :func:`backtest` and the sweep engine).

Annualisation follows the session calendar of the data: a year is ``SESSIONS_PER_YEAR`` (252) sessions, a session is
one calendar day with bars in the session time zone, and the data's own bars-per-session (bars / sessions) turns
per-bar figures into yearly ones. Definitions (risk-free rate 0):

* per bar: ``r[t] = equity[t] / equity[t-1] - 1`` with ``equity[-1] = initial_capital`` (one return per bar);
  ``sharpe = mean(r) / std(r, ddof=1) * sqrt(252 * bars_per_session)``;
  ``sortino = mean(r) / sqrt(mean(min(r, 0)**2)) * sqrt(252 * bars_per_session)`` (inf without a losing bar when
  the mean is positive); ``cagr_pct = ((final / initial) ** (252 / sessions) - 1) * 100``. These per-bar figures
  weigh every bar (nights of flat equity in 24-hour data too): they are **not** the Sharpe people quote.
* per session (``sharpe_daily``, ``sortino_daily``: the figures to compare with a fund's or a paper's): the same
  formulas on one return per session, from the equity at each session's last bar (``equity[-1] = initial_capital``),
  annualised with ``sqrt(252)``.
* drawdown: ``max_drawdown_bars`` is the longest stretch under a previous equity peak, from the peak bar to the bar
  that regains it (or to the last bar), and ``max_drawdown_duration`` the time between those two bars.
* per trade: ``expectancy`` is the mean P&L per trade (money), ``expectancy_pct`` the mean return per trade in %,
  ``sqn = sqrt(trades) * mean(pnl) / std(pnl, ddof=1)`` (Van Tharp's system quality number, on P&L).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["SESSIONS_PER_YEAR", "STAT_NAMES", "equity_curve", "performance_stats", "session_days", "session_ends"]

SESSIONS_PER_YEAR = 252
STAT_NAMES = ["trades", "signals", "win_rate_pct", "total_return_pct", "final_equity", "max_drawdown_pct",
              "profit_factor", "exposure_pct", "avg_holding_bars", "avg_holding_time", "sharpe", "sortino",
              "sharpe_daily", "sortino_daily", "cagr_pct", "expectancy", "expectancy_pct", "sqn", "max_drawdown_bars", "max_drawdown_duration"]


def session_days(times: pd.DatetimeIndex, tz: str) -> np.ndarray:
    """Each bar's session day (int64 days since the epoch) in ``tz``; naive times are taken as local already."""
    try:
        local = times.tz_convert(tz) if times.tz is not None else times
    except Exception as e:  # zoneinfo and pytz raise different types for an unknown zone
        raise ValueError(f"session_tz {tz!r} is not a time zone name like 'America/New_York'") from e
    return local.normalize().as_unit("ns").asi8 // 86_400_000_000_000


def equity_curve(n: int, close: np.ndarray, ei: np.ndarray, xi: np.ndarray, ep: np.ndarray, q: np.ndarray,
                 fee_in: np.ndarray, pnl: np.ndarray, capital: float) -> np.ndarray:
    """Equity at each close: capital + realised P&L up to that bar + open P&L of the position held over it."""
    realised = np.zeros(n)
    np.add.at(realised, xi, pnl)
    equity = capital + np.cumsum(realised)
    lengths = xi - ei  # bars ei .. xi-1 end with the position open
    total = int(lengths.sum()) if lengths.size else 0
    if total:
        starts = np.repeat(ei, lengths)
        offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        bars = starts + offsets
        equity[bars] += (close[bars] - np.repeat(ep, lengths)) * np.repeat(q, lengths) - np.repeat(fee_in, lengths)
    return equity


def _active_equity(n: int, close, ei, xi, ep, q, fee_in, pnl, capital: float) -> tuple[np.ndarray, np.ndarray]:
    """Equity on the bars where it can change (each trade's entry .. exit bar), with their bar indices.

    Between trades equity stays at the last exit's value, so these bars (plus bar 0 at ``capital`` when the first
    trade starts later) carry every peak, trough and non-zero return of the full curve; the values are the same
    floats :func:`equity_curve` computes (same operations in the same order)."""
    lengths = xi - ei + 1
    total = int(lengths.sum())
    starts = np.repeat(ei, lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    bars = starts + offsets
    realised = np.cumsum(pnl)
    before = capital + np.concatenate(([0.0], realised[:-1]))     # capital + P&L of the trades closed before
    eq = np.repeat(before, lengths) + ((close[bars] - np.repeat(ep, lengths)) * np.repeat(q, lengths)
                                       - np.repeat(fee_in, lengths))
    exits = np.cumsum(lengths) - 1
    eq[exits] = capital + realised                                  # at the exit bar: flat, the P&L realised
    if ei[0] > 0:
        bars = np.concatenate(([0], bars))
        eq = np.concatenate(([capital], eq))
    return bars, eq


def session_ends(days: np.ndarray) -> np.ndarray:
    """Index of the last bar of each session (``days`` from :func:`session_days`, sorted)."""
    return np.flatnonzero(np.r_[days[1:] != days[:-1], True]) if days.size else np.empty(0, dtype=np.int64)


def _ratios(r: np.ndarray, annual: float) -> tuple[float, float]:
    """(Sharpe, Sortino) of the returns ``r``, annualised by ``annual``; NaN (inf) where undefined."""
    if r.size < 2:
        return math.nan, math.nan
    mean = float(r.mean())
    sd = float(r.std(ddof=1))
    downside = math.sqrt(float(np.square(np.minimum(r, 0.0)).mean()))
    sortino = mean / downside * annual if downside > 0 else (math.inf if mean > 0 else math.nan)
    return (mean / sd * annual if sd > 0 else math.nan), sortino


def _daily_ratios(bars: np.ndarray, eq: np.ndarray, day_ends: np.ndarray, capital: float) -> tuple[float, float]:
    """Sharpe and Sortino on session returns: equity (sampled at ``bars``, constant between) at each session end."""
    k = np.searchsorted(bars, day_ends, side="right") - 1
    closes = np.where(k >= 0, eq[np.maximum(k, 0)], capital)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = closes / np.r_[capital, closes[:-1]] - 1.0
    return _ratios(r, math.sqrt(SESSIONS_PER_YEAR))


def max_drawdown_pct(eq: np.ndarray) -> float:
    """The largest fall of ``eq`` from its running peak, in % of that peak."""
    peak = np.maximum.accumulate(eq)
    return float(((peak - eq) / peak).max() * 100.0)


def _drawdown(eq: np.ndarray, bars: np.ndarray, n: int) -> tuple[float, int, int, int]:
    """(max drawdown in % of the peak, longest under-water stretch in bars, its peak bar, its end bar) of the
    equity ``eq`` sampled at ``bars`` (constant in between)."""
    peak = np.maximum.accumulate(eq)
    dd = max_drawdown_pct(eq)
    under = eq < peak
    if not under.any():
        return dd, 0, 0, 0
    edges = np.diff(np.concatenate(([False], under, [False])).astype(np.int8))
    starts = bars[np.flatnonzero(edges == 1)]                     # first bar under water; the peak is the one before
    back = np.flatnonzero(edges == -1)                              # first sample back at the peak, if any
    ends = np.where(back < bars.size, bars[np.minimum(back, bars.size - 1)], n - 1)
    lengths = ends - (starts - 1)
    k = int(lengths.argmax())
    return dd, int(lengths[k]), int(starts[k] - 1), int(ends[k])


def performance_stats(*, close: np.ndarray, times_ns: np.ndarray, ei: np.ndarray, xi: np.ndarray, ep: np.ndarray,
                      xp: np.ndarray, q: np.ndarray, fee_in: np.ndarray, pnl: np.ndarray, capital: float,
                      held_bars: int, signals: int, sessions: int, day_ends: np.ndarray) -> dict:
    """All stats of one run from its trades (entry/exit bar, prices, shares, entry fee, net P&L) and the closes.

    ``day_ends``: the index of each session's last bar (:func:`session_ends`). Definitions: module doc. Work is
    O(bars in trades + sessions), not O(bars): between trades nothing changes."""
    n = close.size
    trades = pnl.size
    wins, losses = float(pnl[pnl > 0].sum()), float(-pnl[pnl < 0].sum())
    if trades == 0:
        pf = math.nan
    elif losses > 0:
        pf = wins / losses
    else:
        pf = math.inf if wins > 0 else math.nan
    if trades:
        bars, eq = _active_equity(n, close, ei, xi, ep, q, fee_in, pnl, capital)
    else:
        bars, eq = np.zeros(1, dtype=np.int64), np.array([float(capital)])
    prev = np.empty(eq.size)
    prev[0] = capital
    prev[1:] = eq[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):     # equity at or below 0: the numbers say so as inf/NaN
        dd, dd_bars, dd_from, dd_to = _drawdown(eq, bars, n)
        r = eq / prev - 1.0                  # every other bar's return is exactly 0
    annual = math.sqrt(SESSIONS_PER_YEAR * n / sessions)
    mean = float(r.sum()) / n
    sd = math.sqrt((float(np.square(r - mean).sum()) + (n - r.size) * mean * mean) / (n - 1)) if n > 1 else math.nan
    downside = math.sqrt(float(np.square(np.minimum(r, 0.0)).sum()) / n)
    if downside > 0:
        sortino = mean / downside * annual
    else:
        sortino = math.inf if mean > 0 else math.nan
    sharpe_daily, sortino_daily = _daily_ratios(bars, eq, day_ends, capital)
    final = float(eq[-1])
    growth = final / capital
    try:
        cagr = (growth ** (SESSIONS_PER_YEAR / sessions) - 1.0) * 100.0 if growth > 0 else -100.0
    except OverflowError:           # a big gain over a few sessions, compounded over a year
        cagr = math.inf
    pnl_sd = float(pnl.std(ddof=1)) if trades > 1 else math.nan
    hold_ns = times_ns[xi] - times_ns[ei]
    return {
        "trades": trades,
        "signals": signals,
        "win_rate_pct": float((pnl > 0).mean() * 100.0) if trades else math.nan,
        "total_return_pct": float((growth - 1.0) * 100.0),
        "final_equity": final,
        "max_drawdown_pct": dd,
        "profit_factor": float(pf),
        "exposure_pct": float(held_bars / n * 100.0),
        "avg_holding_bars": float((xi - ei).mean()) if trades else math.nan,
        "avg_holding_time": pd.Timedelta(round(float(hold_ns.mean())), unit="ns") if trades else pd.NaT,
        "sharpe": mean / sd * annual if sd > 0 else math.nan,
        "sortino": sortino,
        "sharpe_daily": sharpe_daily,
        "sortino_daily": sortino_daily,
        "cagr_pct": cagr,
        "expectancy": float(pnl.mean()) if trades else math.nan,
        "expectancy_pct": float((pnl / (ep * q) * 100.0).mean()) if trades else math.nan,
        "sqn": math.sqrt(trades) * float(pnl.mean()) / pnl_sd if pnl_sd > 0 else math.nan,
        "max_drawdown_bars": dd_bars,
        "max_drawdown_duration": pd.Timedelta(int(times_ns[dd_to] - times_ns[dd_from]), unit="ns"),
    }
