"""Walk-forward analysis, pure: session folds, in-sample selection, out-of-sample runs, stitched results.

Folds count sessions (calendar days in the plan's ``session_tz``): fold ``f`` trains on sessions
``[f*test, f*test + train)`` (rolling; ``anchored=True``: ``[0, f*test + train)``, a window that grows) and tests on
the next ``test`` sessions; only whole test windows are used. Only combinations with at least ``min_trades``
in-sample trades and a finite objective are eligible: a profit factor of inf (no losing trade) or a Sharpe from two
trades picks luck, not a rule. Every run
(train or test) starts flat on its own slice of bars and a trade still open at a window's end exits there
("end_of_data"). A test run's channel warms up on the last ``lookback`` bars of its train window (signals there
do not trade), so a breakout in the test window's first bars counts. The stitched row per symbol joins the test windows
(which tile the data after the first train window) and computes the stats of all their trades on that one equity
curve, with the same functions as :func:`~breakout_kit.core.backtest.backtest`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from breakout_kit.core.costs import trade_pnl
from breakout_kit.core.stats import STAT_NAMES, equity_curve, performance_stats
from breakout_kit.core.sweep import GRID_KEYS, REASONS, SweepPlan, _candidates, bars_of, run_plan, simulate

__all__ = ["MINIMISED", "OBJECTIVES", "WalkForwardResult", "combine_walk_forward", "walk_forward_symbol"]

#: stats a walk-forward may select on (numbers); the drawdowns are minimised, the rest maximised
OBJECTIVES = tuple(s for s in STAT_NAMES if s not in ("avg_holding_time", "max_drawdown_duration"))
MINIMISED = ("max_drawdown_pct", "max_drawdown_bars")
_WINDOW_COLUMNS = ["fold", "train_start", "train_end", "test_start", "test_end"]


@dataclass
class WalkForwardResult:
    """``folds``: one row per (symbol, fold); ``stitched``: one row per symbol; ``trades``: every out-of-sample
    trade (``symbol``, ``fold``, then :func:`backtest`'s trade columns); ``equity``: each symbol's stitched
    out-of-sample equity (a column per symbol); ``errors``: failed symbols. ``.plot()`` draws both."""

    folds: pd.DataFrame
    stitched: pd.DataFrame
    objective: str = "sharpe"
    errors: dict = field(default_factory=dict)
    trades: pd.DataFrame = field(default_factory=pd.DataFrame)
    equity: pd.DataFrame = field(default_factory=pd.DataFrame)

    def plot(self, title: str | None = None, tz: str | None = "America/New_York"):
        """A plotly Figure: stitched out-of-sample equity per symbol, and the parameters each fold chose; times
        shown in ``tz`` (the exchange's by default; None keeps them as stored)."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        varying = [k for k in GRID_KEYS if k in self.folds and self.folds[k].nunique(dropna=True) > 1]
        rows = 1 + len(varying)
        fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                            row_heights=[3] + [1] * len(varying),
                            subplot_titles=["out-of-sample equity (stitched)"] + [f"chosen {k}" for k in varying])
        def shown(times):
            times = pd.DatetimeIndex(times)
            return times.tz_convert(tz).tz_localize(None) if tz and times.tz is not None else times

        for symbol in self.equity.columns:
            fig.add_trace(go.Scatter(x=shown(self.equity.index), y=self.equity[symbol], name=str(symbol),
                                     mode="lines"), row=1, col=1)
        for r, key in enumerate(varying, start=2):
            for name, part in self.folds.groupby("symbol", sort=False):
                fig.add_trace(go.Scatter(x=shown(part["test_start"]), y=part[key], name=f"{name} {key}",
                                         mode="lines+markers", line_shape="hv", showlegend=False), row=r, col=1)
        fig.update_layout(title=title or f"walk-forward ({self.objective})", height=320 + 140 * len(varying),
                          template="plotly_white")
        return fig


def _check(train, test, objective: str, min_trades: int = 1) -> None:
    for name, value in (("train", train), ("test", test)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a number of sessions >= 1, got {value!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {list(OBJECTIVES)}, got {objective!r}")
    if isinstance(min_trades, bool) or not isinstance(min_trades, (int, np.integer)) or min_trades < 0:
        raise ValueError(f"min_trades must be an int >= 0, got {min_trades!r}")


def _best(stats: pd.DataFrame, objective: str, min_trades: int = 1):
    """The eligible combination (index) with the best in-sample objective; ties go to the earlier one; None when
    none is eligible (fewer than ``min_trades`` trades, or a NaN / infinite objective)."""
    values = pd.to_numeric(stats[objective], errors="coerce").astype(float)
    if objective in MINIMISED:
        values = -values
    values = values[np.isfinite(values) & (stats["trades"] >= min_trades)]
    if values.empty:
        return None
    return values.idxmax()


def walk_forward_symbol(bars: pd.DataFrame | None, plan: SweepPlan, train: int, test: int, objective: str,
                        *, min_trades: int = 1, anchored: bool = False, check_only: bool = False) -> dict | None:
    """Walk-forward of one symbol: ``{"folds": DataFrame, "stitched": dict of stats, "trades": DataFrame,
    "equity": Series}`` (module doc for folds)."""
    _check(train, test, objective, min_trades)
    if not isinstance(anchored, (bool, np.bool_)):
        raise TypeError(f"anchored must be True or False, got {anchored!r}")
    if check_only or bars is None:
        return None
    f = plan.fixed
    b = bars_of(bars, f["session_tz"], f["session"])   # the slices below are regular-hours already if asked
    frame = pd.DataFrame({"open": b.o, "high": b.h, "low": b.lo, "close": b.c, "volume": b.v}, index=b.times)
    day_starts = np.r_[0, np.flatnonzero(b.days[1:] != b.days[:-1]) + 1, b.n]
    sessions = day_starts.size - 1
    folds = (sessions - train) // test if sessions > train else 0
    if folds < 1:
        raise ValueError(f"{sessions} sessions of bars: a walk-forward needs at least train + test = "
                         f"{train + test}")
    combos = {combo: (rule, tp) for rule, members in plan.groups for combo, tp in members}
    rows, stitched = [], []
    region0 = int(day_starts[train])
    for k in range(folds):
        tr0, tr1 = int(day_starts[0 if anchored else k * test]), int(day_starts[k * test + train])
        te1 = int(day_starts[k * test + train + test])
        row = {"fold": k, "train_start": frame.index[tr0], "train_end": frame.index[tr1 - 1],
               "test_start": frame.index[tr1], "test_end": frame.index[te1 - 1]}
        insample = run_plan(frame.iloc[tr0:tr1], plan)
        best = _best(insample, objective, min_trades)
        if best is None:
            row.update(dict.fromkeys(GRID_KEYS))
            row[f"is_{objective}"] = math.nan
            rows.append(row)
            continue
        row.update(plan.params.loc[best].to_dict())
        row[f"is_{objective}"] = insample.loc[best, objective]
        rule, tp = combos[best]
        # the channel warms up on the last train bars; only signals inside the test window trade
        warm = min(rule.lookback, tr1)
        tb = bars_of(frame.iloc[tr1 - warm:te1], f["session_tz"])
        cand = _candidates(tb, rule, tp.entry, from_bar=warm)
        trades = simulate(tb, cand, tp.take_profit_pct, tp.stop_loss_pct, tp.max_holding_bars,
                          tp.flat_at_session_end, f["quantity"], f["cash"], f["costs"])
        window = bars_of(frame.iloc[tr1:te1], f["session_tz"])
        row.update(_run_stats(window, [(trades, cand.first_check, -warm)], cand.signals, f))
        rows.append(row)
        stitched.append((trades, cand.first_check, tr1 - warm - region0, cand.signals, k))
    region = bars_of(frame.iloc[region0:int(day_starts[train + folds * test])], f["session_tz"])
    runs = [(t, fc, off) for t, fc, off, _s, _k in stitched]
    total = _run_stats(region, runs, sum(s[3] for s in stitched), f)
    trades, equity = _out_of_sample(region, runs, [s[4] for s in stitched], f)
    columns = _WINDOW_COLUMNS + list(GRID_KEYS) + [f"is_{objective}"] + STAT_NAMES
    return {"folds": pd.DataFrame(rows, columns=columns), "stitched": total, "trades": trades, "equity": equity}


def _joined(runs):
    parts = [(ei + off, xi + off, ep, xp, q, r, np.full(ei.size, 1 - fc))
             for (ei, xi, ep, xp, q, r), fc, off in runs]
    if not parts:
        e = np.empty(0, dtype=np.int64)
        return e, e, np.empty(0), np.empty(0), np.empty(0), e, e
    return tuple(np.concatenate(a) for a in zip(*parts))


def _out_of_sample(b, runs, folds: list[int], f: dict) -> tuple[pd.DataFrame, pd.Series]:
    """The stitched out-of-sample trades (with their fold) and equity on the bars ``b``."""
    ei, xi, ep, xp, q, reason, _extra = _joined(runs)
    fee, pnl = trade_pnl(f["costs"], ep, xp, q)
    fold = np.concatenate([np.full(t[0].size, k) for (t, _fc, _off), k in zip(runs, folds)]) if runs else ei
    trades = pd.DataFrame({
        "fold": fold, "entry_time": b.times[ei], "entry_price": ep, "exit_time": b.times[xi], "exit_price": xp,
        "quantity": q, "pnl": pnl, "return_pct": pnl / (ep * q) * 100.0 if q.size else np.empty(0),
        "exit_reason": REASONS[reason.astype(np.int64)] if reason.size else np.empty(0, dtype=object),
        "bars_held": xi - ei})
    equity = pd.Series(equity_curve(b.n, b.c, ei, xi, ep, q, fee, pnl, f["initial_capital"]), index=b.times,
                       name="equity")
    return trades, equity


def _run_stats(b, runs, signals: int, f: dict) -> dict:
    """Stats of the trades of several runs placed on the bars ``b`` (each run's bar offset into ``b``)."""
    ei, xi, ep, xp, q, _reason, extra = _joined(runs)
    fee, pnl = trade_pnl(f["costs"], ep, xp, q)
    capital = f["initial_capital"]
    return performance_stats(close=b.c, times_ns=b.times_ns, ei=ei, xi=xi, ep=ep, xp=xp, q=q, fee_in=fee, pnl=pnl,
                             capital=capital, held_bars=int((xi - ei + extra).sum()), signals=signals,
                             sessions=b.sessions, day_ends=b.day_ends)


def combine_walk_forward(per_symbol: dict[str, dict], plan: SweepPlan, objective: str = "sharpe"
                         ) -> WalkForwardResult:
    """One :class:`WalkForwardResult` from :func:`walk_forward_symbol`'s outputs, symbols in the given order."""
    tables = []
    for symbol, result in per_symbol.items():
        t = result["folds"].copy()
        t.insert(0, "symbol", symbol)
        tables.append(t)
    folds = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["symbol", *_WINDOW_COLUMNS])
    stitched = pd.DataFrame.from_dict({s: r["stitched"] for s, r in per_symbol.items()}, orient="index",
                                      columns=STAT_NAMES)
    stitched.index.name = "symbol"
    parts = [r["trades"].assign(symbol=s) for s, r in per_symbol.items()]
    trades = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["symbol", "fold"])
    trades = trades[["symbol", *[c for c in trades.columns if c != "symbol"]]]
    equity = pd.DataFrame({s: r["equity"] for s, r in per_symbol.items()}).ffill()
    return WalkForwardResult(folds, stitched, objective, trades=trades, equity=equity)
