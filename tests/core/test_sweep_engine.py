"""The pure sweep engine equals backtest() for every combination, and the grid is validated up front."""


import numpy as np
import pandas as pd
import pytest
from conftest import minute_bars, same_stat

from breakout_kit.core.backtest import backtest
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.core.stats import STAT_NAMES
from breakout_kit.core.sweep import GRID_KEYS, plan_sweep, run_plan


def backtest_row(bars, params: dict, **fixed) -> pd.Series:
    rule = BreakoutRule(params["lookback"], params["trigger"], params["direction"], params["min_rel_volume"])
    return backtest(bars, rule, take_profit_pct=params["take_profit_pct"], stop_loss_pct=params["stop_loss_pct"],
                    entry=params["entry"], max_holding_bars=params["max_holding_bars"],
                    flat_at_session_end=params["flat_at_session_end"], **fixed).stats


@pytest.mark.parametrize("fixed", [{}, {"commission": 0.01, "min_commission": 1.0},
                                   {"cash": 5_000.0, "initial_capital": 50_000.0}])
def test_every_row_equals_backtest(fixed):
    bars = minute_bars(sessions=6, seed=3)
    grid = {"lookback": [5, 30], "trigger": ["close", "high"], "direction": ["up", "both"],
            "min_rel_volume": [0.0, 1.5], "take_profit_pct": [0.2, 1.0], "stop_loss_pct": [0.15, 0.6],
            "entry": ["next_open", "signal"], "max_holding_bars": [None, 7],
            "flat_at_session_end": [False, True]}
    plan = plan_sweep(grid, fixed)
    assert plan.size == 2 ** 9 and list(plan.params.columns) == list(GRID_KEYS)
    out = run_plan(bars, plan)
    assert list(out.columns) == STAT_NAMES and list(out.index) == list(range(plan.size))
    reasons_seen = set()
    for combo, params in enumerate(plan.params.to_dict("records")):
        ref = backtest_row(bars, params, **fixed)
        row = out.loc[combo]
        wrong = [k for k in STAT_NAMES if not same_stat(ref[k], row[k])]
        assert wrong == [], (params, {k: (ref[k], row[k]) for k in wrong})
        if combo % 37 == 0:
            rule = BreakoutRule(params["lookback"], params["trigger"], params["direction"], params["min_rel_volume"])
            reasons_seen |= set(backtest(bars, rule, take_profit_pct=params["take_profit_pct"],
                                         stop_loss_pct=params["stop_loss_pct"], entry=params["entry"],
                                         max_holding_bars=params["max_holding_bars"],
                                         flat_at_session_end=params["flat_at_session_end"], **fixed
                                         ).trades["exit_reason"])
    assert out["trades"].min() > 0
    # the grid exercises every exit rule, so the equality above covers each branch of the engine
    assert {"take_profit", "stop_loss", "max_holding", "session_end"} <= reasons_seen


def test_long_trades_need_wide_windows():
    """Targets far away: trades outlive the first window of bars and still equal backtest()."""
    bars = minute_bars(sessions=3, seed=9)
    plan = plan_sweep({"take_profit_pct": [5.0], "stop_loss_pct": [4.0], "lookback": [20]})
    out = run_plan(bars, plan)
    ref = backtest(bars, BreakoutRule(20), take_profit_pct=5.0, stop_loss_pct=4.0)
    assert ref.stats["avg_holding_bars"] > 100
    assert all(same_stat(ref.stats[k], out.loc[0, k]) for k in STAT_NAMES)


def test_grid_is_validated_up_front():
    with pytest.raises(ValueError, match=r"unknown sweep parameter\(s\) \['take_profit', 'lookbak'\]"):
        plan_sweep({"take_profit": [1], "stop_loss_pct": [1]}, {"lookbak": 3})
    with pytest.raises(ValueError, match="take_profit_pct"):
        plan_sweep({"stop_loss_pct": [1]})
    with pytest.raises(ValueError, match="both in the grid and as fixed"):
        plan_sweep({"take_profit_pct": [1], "stop_loss_pct": [1]}, {"stop_loss_pct": 2})
    with pytest.raises(ValueError, match="lookback"):
        plan_sweep({"take_profit_pct": [1], "stop_loss_pct": [1], "lookback": [0]})
    with pytest.raises(ValueError, match="long-only"):
        plan_sweep({"take_profit_pct": [1], "stop_loss_pct": [1], "direction": ["down"]})
    with pytest.raises(ValueError, match="empty"):
        plan_sweep({"take_profit_pct": [], "stop_loss_pct": [1]})
    with pytest.raises(ValueError, match="max_holding_bars"):
        plan_sweep({"take_profit_pct": [1], "stop_loss_pct": [1], "max_holding_bars": [0]})


def test_plan_groups_share_a_rule_and_split_keeps_groups_whole():
    plan = plan_sweep({"lookback": [5, 10, 20], "take_profit_pct": [0.5, 1, 2], "stop_loss_pct": 0.5})
    assert [len(m) for _rule, m in plan.groups] == [3, 3, 3]
    parts = plan.split(2)
    assert len(parts) == 2
    assert sorted(c for p in parts for _r, m in p.groups for c, _t in m) == list(range(9))
    assert plan.params["max_holding_bars"].tolist() == [None] * 9
    bars = minute_bars(sessions=2, seed=1)
    whole = run_plan(bars, plan)
    pieces = pd.concat([run_plan(bars, p) for p in parts]).sort_index()
    pd.testing.assert_frame_equal(whole, pieces)
    assert np.isfinite(whole["sharpe"].astype(float)).all()
    one_rule = plan_sweep({"take_profit_pct": [0.5, 1, 2], "stop_loss_pct": [0.3, 0.6]})
    cut = one_rule.split(4)                     # one rule group, cut so that four workers have work
    assert len(cut) == 4 and sorted(c for p in cut for _r, m in p.groups for c, _t in m) == list(range(6))
    pd.testing.assert_frame_equal(pd.concat([run_plan(bars, p) for p in cut]).sort_index(), run_plan(bars, one_rule))
