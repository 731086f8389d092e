"""Walk-forward analysis, pure: session folds, in-sample selection, out-of-sample runs, stitched results.

Folds count sessions (calendar days in the plan's ``session_tz``): fold ``f`` trains on sessions
``[f*test, f*test + train)`` and tests on the next ``test`` sessions; only whole test windows are used. Every run
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
from breakout_kit.core.stats import STAT_NAMES, performance_stats
from breakout_kit.core.sweep import GRID_KEYS, SweepPlan, _candidates, bars_of, run_plan, simulate

__all__ = ["MINIMISED", "OBJECTIVES", "WalkForwardResult", "combine_walk_forward", "walk_forward_symbol"]

#: stats a walk-forward may select on (numbers); the drawdowns are minimised, the rest maximised
OBJECTIVES = tuple(s for s in STAT_NAMES if s not in ("avg_holding_time", "max_drawdown_duration"))
MINIMISED = ("max_drawdown_pct", "max_drawdown_bars")
_WINDOW_COLUMNS = ["fold", "train_start", "train_end", "test_start", "test_end"]


@dataclass
class WalkForwardResult:
    """``folds``: one row per (symbol, fold); ``stitched``: one row per symbol; ``errors``: failed symbols."""

    folds: pd.DataFrame
    stitched: pd.DataFrame
    objective: str = "sharpe"
    errors: dict = field(default_factory=dict)


def _check(train, test, objective: str) -> None:
    for name, value in (("train", train), ("test", test)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a number of sessions >= 1, got {value!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {list(OBJECTIVES)}, got {objective!r}")


def _best(stats: pd.DataFrame, objective: str):
    """The combination (index) with the best in-sample objective; ties go to the earlier one; None if all NaN."""
    values = pd.to_numeric(stats[objective], errors="coerce").astype(float)
    if objective in MINIMISED:
        values = -values
    if values.isna().all():
        return None
    return values.idxmax()


def walk_forward_symbol(bars: pd.DataFrame | None, plan: SweepPlan, train: int, test: int, objective: str,
                        *, check_only: bool = False) -> dict | None:
    """Walk-forward of one symbol: ``{"folds": DataFrame, "stitched": dict of stats}`` (module doc for folds)."""
    _check(train, test, objective)
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
        tr0, tr1 = int(day_starts[k * test]), int(day_starts[k * test + train])
        te1 = int(day_starts[k * test + train + test])
        row = {"fold": k, "train_start": frame.index[tr0], "train_end": frame.index[tr1 - 1],
               "test_start": frame.index[tr1], "test_end": frame.index[te1 - 1]}
        insample = run_plan(frame.iloc[tr0:tr1], plan)
        best = _best(insample, objective)
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
        stitched.append((trades, cand.first_check, tr1 - warm - region0, cand.signals))
    region = bars_of(frame.iloc[region0:int(day_starts[train + folds * test])], f["session_tz"])
    total = _run_stats(region, [(t, fc, off) for t, fc, off, _s in stitched], sum(s[3] for s in stitched), f)
    columns = _WINDOW_COLUMNS + list(GRID_KEYS) + [f"is_{objective}"] + STAT_NAMES
    return {"folds": pd.DataFrame(rows, columns=columns), "stitched": total}


def _run_stats(b, runs, signals: int, f: dict) -> dict:
    """Stats of the trades of several runs placed on the bars ``b`` (each run's bar offset into ``b``)."""
    parts = [(ei + off, xi + off, ep, xp, q, np.full(ei.size, 1 - fc)) for (ei, xi, ep, xp, q, _r), fc, off in runs]
    if parts:
        ei, xi, ep, xp, q, extra = (np.concatenate(a) for a in zip(*parts))
    else:
        ei = xi = np.empty(0, dtype=np.int64)
        ep = xp = q = np.empty(0)
        extra = np.empty(0, dtype=np.int64)
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
    return WalkForwardResult(folds, stitched, objective)
