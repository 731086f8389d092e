"""Backtests of futures and forex: P&L with the multiplier (exact), and sessions from the instrument's calendar."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from breakout_kit.core import trading_hours
from breakout_kit.core.backtest import backtest
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.core.sweep import plan_sweep, run_plan

RULE = BreakoutRule(lookback=3)


def _frame(times, closes):
    c = np.asarray(closes, dtype=float)
    return pd.DataFrame({"open": c, "high": c, "low": c, "close": c, "volume": 1000}, index=pd.DatetimeIndex(times))


def test_future_pnl_is_points_times_multiplier_times_quantity_minus_commission():
    # ES on a 0.25 grid: a breakout at 6804 enters at the next open 6805, the take-profit fills at its level
    times = pd.date_range("2026-11-23 10:00", periods=8, freq="1min", tz="America/New_York")
    bars = _frame(times, [6800, 6801, 6800, 6804, 6805, 6805.5, 6860, 6860])
    bars.iloc[6, bars.columns.get_loc("high")] = 6875.0      # touches the take-profit inside the bar
    r = backtest(bars, RULE, take_profit_pct=1.0, stop_loss_pct=1.0, quantity=2, commission=2.25, tick=0.25,
                 multiplier=50)
    [t] = r.trades.to_dict("records")
    assert t["entry_price"] == 6805 and t["exit_price"] == 6873.0          # 6805 x 1.01 = 6873.05 -> tick 6873.00
    assert t["pnl"] == (6873.0 - 6805) * 50 * 2 - 2 * 2.25 * 2               # points x 50 x 2 - both orders
    stock = backtest(bars, RULE, take_profit_pct=1.0, stop_loss_pct=1.0, quantity=2, commission=2.25, tick=0.25)
    assert stock.trades["pnl"].iloc[0] == (6873.0 - 6805) * 2 - 2 * 2.25 * 2
    assert r.equity.iloc[-1] == 100_000 + t["pnl"]


def test_sweep_uses_the_multiplier_too():
    times = pd.date_range("2026-11-23 10:00", periods=8, freq="1min", tz="America/New_York")
    bars = _frame(times, [6800, 6801, 6800, 6804, 6805, 6805.5, 6860, 6860])
    bars.iloc[6, bars.columns.get_loc("high")] = 6875.0
    plan = plan_sweep({"lookback": [3]}, {"take_profit_pct": 1.0, "stop_loss_pct": 1.0, "quantity": 2,
                                          "commission": 2.25, "tick": 0.25, "multiplier": 50})
    got = run_plan(bars, plan)
    one = backtest(bars, RULE, take_profit_pct=1.0, stop_loss_pct=1.0, quantity=2, commission=2.25, tick=0.25,
                   multiplier=50)
    assert got["total_return_pct"].iloc[0] == pytest.approx(one.stats["total_return_pct"])


def test_forex_session_runs_sunday_evening_to_friday_17_and_flattens_there():
    # hourly EURUSD from Friday 12:00 to Monday 12:00 as IDEALPRO has them: none from Friday 17:00 to Sunday 17:15
    fri = pd.date_range("2026-11-20 12:00", "2026-11-20 16:00", freq="1h", tz="America/New_York")
    sun = pd.date_range("2026-11-22 18:00", "2026-11-23 12:00", freq="1h", tz="America/New_York")
    times = fri.append(sun)
    closes = [1.1000, 1.1001, 1.1000, 1.1005, 1.1006] + [1.1000, 1.1001, 1.1000, 1.1005, 1.1006] + \
        [1.1007 + 0.00001 * k for k in range(len(sun) - 5)]
    bars = _frame(times, closes)
    days = trading_hours.session_day_ids(bars.index, "forex")
    assert len(set(days[:5])) == 1 and len(set(days[5:])) == 1 and days[5] - days[0] == 3   # Friday, then Monday
    fx = backtest(bars, RULE, take_profit_pct=5, stop_loss_pct=5, quantity=100_000, flat_at_session_end=True,
                  calendar="forex")
    stock = backtest(bars, RULE, take_profit_pct=5, stop_loss_pct=5, quantity=100_000, flat_at_session_end=True)
    # the Friday entry is flattened at Friday's last bar (16:00): never carried over the weekend
    first = fx.trades.iloc[0]
    assert first["exit_reason"] == "session_end" and first["exit_time"] == fri[-1]
    # Sunday evening belongs to Monday's session under the forex calendar; calendar days would cut it at midnight
    sunday = fx.trades.iloc[1]
    assert sunday["entry_time"] == pd.Timestamp("2026-11-22 22:00", tz="America/New_York")
    assert sunday["exit_time"] == sun[-1] and sunday["exit_reason"] == "end_of_data"
    assert stock.trades.iloc[1]["exit_time"] == pd.Timestamp("2026-11-22 23:00", tz="America/New_York")


def test_future_regular_hours_and_calendar():
    assert trading_hours.session_window("future", date(2026, 11, 23))[0].hour == 18      # Sunday 18:00 open
    assert trading_hours.session_window("future", date(2026, 12, 25)) is None           # CME holiday
    assert trading_hours.session_window("future", date(2026, 11, 28)) is None           # Saturday
    assert trading_hours.session_window("forex", date(2026, 11, 23))[0].minute == 15
    times = pd.date_range("2026-11-22 18:00", "2026-11-23 17:00", freq="1h", tz="America/New_York", inclusive="left")
    keep = trading_hours.regular_mask(times, "future")
    kept = times[keep]
    assert kept[0].hour == 10 and kept[-1].hour == 16 and len(kept) == 7                # 10:00 .. 16:00 (< 16:15)
    with pytest.raises(ValueError, match="calendar|kind"):
        backtest(_frame(times, np.arange(len(times)) + 100.0), take_profit_pct=1, stop_loss_pct=1, calendar="moon")
