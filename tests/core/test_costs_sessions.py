"""Regular hours, IB's commission schedules, regulatory fees, slippage and tick rounding: exact numbers, and the sweep
engine equal to backtest with every one of them on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import same_stat

from breakout_kit.core.backtest import backtest
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.core.costs import cost_model
from breakout_kit.core.sessions import regular_hours, select_session
from breakout_kit.core.sweep import plan_sweep, run_plan

NY = "America/New_York"


def day_of_minutes(day: str, base: float = 100.0, breakout_at: str = "10:30") -> pd.DataFrame:
    """1-minute bars 04:00-20:00 New York: flat at ``base`` with a tiny range, then a step up at ``breakout_at``
    (a close breakout) that stays inside a +/-5 % take-profit/stop for the rest of the day."""
    times = pd.date_range(f"{day} 04:00", f"{day} 19:59", freq="1min", tz=NY)
    close = np.full(len(times), base)
    close[times >= pd.Timestamp(f"{day} {breakout_at}", tz=NY)] = base + 1.0
    return pd.DataFrame({"open": close, "high": close + 0.05, "low": close - 0.05, "close": close,
                         "volume": 1000.0}, index=times.tz_convert("UTC"))


def test_regular_hours_follow_the_calendar():
    times = pd.DatetimeIndex(["2026-11-25 09:29", "2026-11-25 09:30", "2026-11-25 15:59", "2026-11-25 16:00",
                              "2026-11-26 10:00",                       # Thanksgiving: closed
                              "2026-11-27 12:59", "2026-11-27 13:00"],  # early close
                             tz=NY)
    assert regular_hours(times).tolist() == [False, True, True, False, False, True, False]


@pytest.mark.parametrize("day, last", [("2026-11-25", "15:59"), ("2026-11-27", "12:59")])
def test_regular_hours_backtest_flattens_at_the_calendar_close(day, last):
    bars = pd.concat([day_of_minutes(day), day_of_minutes("2026-11-30", 101.0, "20:00")])   # a later, quiet session
    kw = {"take_profit_pct": 5, "stop_loss_pct": 5, "flat_at_session_end": True}
    regular = backtest(bars, BreakoutRule(lookback=20), session="regular", **kw).trades
    assert len(regular) == 1
    assert regular["exit_time"].iloc[0].tz_convert(NY).strftime("%H:%M") == last
    assert regular["exit_reason"].iloc[0] == "session_end"
    extended = backtest(bars, BreakoutRule(lookback=20), **kw).trades   # the bars as given: 04:00-20:00
    assert extended["exit_time"].iloc[0].tz_convert(NY).strftime("%H:%M") == "19:59"


def test_regular_session_keeps_daily_bars():
    days = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0},
                        index=pd.date_range("2026-11-02", periods=5, freq="B", tz=NY))
    assert select_session(days, "regular") is days
    with pytest.raises(ValueError, match="session must be one of"):
        select_session(days, "rth")


@pytest.mark.parametrize("schedule, shares, price, fee", [
    ("ib_fixed", 100, 50.0, 1.00),        # 0.50 by the share, the USD 1.00 minimum applies
    ("ib_fixed", 10_000, 50.0, 50.00),    # USD 0.005 x 10 000
    ("ib_fixed", 100, 0.50, 0.50),        # the 1 % of trade value cap is below the minimum: the cap wins
    ("ib_tiered", 100, 50.0, 0.35),
    ("ib_tiered", 10_000, 50.0, 35.00),
])
def test_ib_schedules_are_exact(schedule, shares, price, fee):
    costs = cost_model(schedule)
    got = costs.fees(np.array([float(shares)]), np.array([price]), sale=False)[0]
    assert got == pytest.approx(fee, abs=1e-12)


def test_regulatory_fees_only_on_the_sale():
    costs = cost_model("ib_fixed", regulatory_fees=True)
    q, p = np.array([10_000.0]), np.array([50.0])
    assert costs.fees(q, p, sale=False)[0] == pytest.approx(50.0)
    # SEC: 27.80 per million of 500 000 = 13.90; FINRA TAF: 0.000166 x 10 000 = 1.66 (under the 8.30 cap)
    assert costs.fees(q, p, sale=True)[0] == pytest.approx(50.0 + 13.90 + 1.66)
    assert costs.fees(np.array([100_000.0]), p, sale=True)[0] == pytest.approx(500.0 + 139.0 + 8.30)


def test_a_backtest_pays_the_schedule_on_both_orders():
    bars = day_of_minutes("2026-11-25")
    t = backtest(bars, BreakoutRule(lookback=20), take_profit_pct=5, stop_loss_pct=5, quantity=100,
                 commission="ib_fixed", session="regular", flat_at_session_end=True).trades.iloc[0]
    assert t["pnl"] == pytest.approx((t["exit_price"] - t["entry_price"]) * 100 - 1.00 - 1.00)


def test_slippage_and_tick_rounding():
    bars = day_of_minutes("2026-11-25")
    bars.loc[bars.index[-30]:, ["low", "close", "open"]] = 80.0   # a late collapse through the stop (a gap)
    t = backtest(bars, BreakoutRule(lookback=20), take_profit_pct=5, stop_loss_pct=3.33, quantity=10,
                 tick=0.01, slippage_ticks=2).trades.iloc[0]
    assert t["entry_price"] == pytest.approx(101.0 + 0.02)          # the next open, 2 ticks worse
    assert t["exit_reason"] == "stop_loss" and t["exit_price"] == pytest.approx(80.0 - 0.02)  # gapped through
    with pytest.raises(ValueError, match="slippage_ticks needs tick"):
        cost_model(slippage_ticks=1)
    with pytest.raises(ValueError, match="commission must be a number per share or one of"):
        cost_model("ib_cheap")


def test_stop_level_is_on_the_tick():
    bars = day_of_minutes("2026-11-25")
    bars.loc[bars.index[-30]:, "low"] = 90.0                         # touches the stop intrabar, opens above it
    t = backtest(bars, BreakoutRule(lookback=20), take_profit_pct=5, stop_loss_pct=3.333, quantity=10,
                 tick=0.05).trades.iloc[0]
    stop = round(101.0 * (1 - 0.03333) / 0.05) * 0.05                # 97.63... -> 97.65
    assert t["exit_reason"] == "stop_loss" and t["exit_price"] == pytest.approx(stop)


def test_sweep_equals_backtest_with_every_cost_and_regular_hours():
    bars = pd.concat([day_of_minutes("2026-11-24", 100.0, "11:00"), day_of_minutes("2026-11-25", 101.0, "10:00"),
                      day_of_minutes("2026-11-27", 102.0, "09:45")])
    fixed = {"commission": "ib_tiered", "regulatory_fees": True, "tick": 0.01, "slippage_ticks": 1,
             "session": "regular", "quantity": 250}
    grid = {"lookback": [10, 30], "take_profit_pct": [0.5, 5.0], "stop_loss_pct": [0.5, 5.0],
            "flat_at_session_end": [False, True]}
    plan = plan_sweep(grid, fixed)
    table = run_plan(bars, plan)
    assert (table["trades"] > 0).all()
    for combo, params in plan.params.iterrows():
        p = params.to_dict()
        rule = BreakoutRule(lookback=p.pop("lookback"), trigger=p.pop("trigger"), direction=p.pop("direction"),
                            min_rel_volume=p.pop("min_rel_volume"))
        stats = backtest(bars, rule, **p, **fixed).stats
        assert all(same_stat(table.loc[combo, name], value) for name, value in stats.items()), combo
