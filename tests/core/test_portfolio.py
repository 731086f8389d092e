"""portfolio(): one account over many symbols, built on backtest's engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import minute_bars

from breakout_kit.core.backtest import TRADE_COLUMNS, backtest
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.core.portfolio import portfolio

RULE = BreakoutRule(lookback=15)
KW = {"take_profit_pct": 0.4, "stop_loss_pct": 0.3, "max_holding_bars": 45}


def test_one_symbol_with_capital_to_spare_equals_backtest():
    bars = minute_bars(sessions=6, seed=3)
    ref = backtest(bars, RULE, **KW, commission="ib_fixed")
    book = portfolio({"X": bars}, RULE, **KW, commission="ib_fixed", capital=1e9, benchmark=None)
    assert len(ref.trades) > 5
    pd.testing.assert_frame_equal(book.trades[TRADE_COLUMNS], ref.trades, check_dtype=False)
    assert book.equity.to_numpy() == pytest.approx(ref.equity.to_numpy() - 100_000.0 + 1e9, rel=0, abs=1e-6)
    assert book.stats["trades"] == ref.stats["trades"]


def test_max_positions_one_takes_only_the_first_signal():
    a = minute_bars(sessions=2, seed=1)
    b = a.copy()                                   # the same moves on a second symbol, one minute later
    b.index = b.index + pd.Timedelta(minutes=1)
    solo = backtest(a, RULE, **KW).trades
    book = portfolio({"A": a, "B": b}, RULE, **KW, max_positions=1, benchmark=None)
    # B's every signal comes a minute after A's, while A's trade is open (or A re-enters first): B never trades
    assert set(book.trades["symbol"]) == {"A"}
    assert len(book.trades) == len(solo)
    assert book.stats["skipped_max_positions"] > 0 and book.stats["max_open_positions"] == 1
    both = portfolio({"A": a, "B": b}, RULE, **KW, max_positions=2, benchmark=None)
    assert set(both.trades["symbol"]) == {"A", "B"} and both.stats["max_open_positions"] == 2


def test_cash_and_sizing_limits():
    bars = minute_bars(sessions=3, seed=2)
    book = portfolio({"X": bars}, RULE, **KW, capital=1_000.0, quantity=1_000, benchmark=None)
    t = book.trades
    cash_before = 1_000.0 + t["pnl"].cumsum().shift(fill_value=0.0)     # one position at a time, no fees
    assert len(t) > 3 and (t["quantity"] < 1_000).all()
    assert (t["quantity"] == np.floor(cash_before / t["entry_price"])).all()
    risk = portfolio({"X": bars}, RULE, **KW, sizing="risk", risk_pct=0.1, capital=100_000.0, benchmark=None)
    t = risk.trades.iloc[0]
    stop = t["entry_price"] * (100.0 - 0.3) / 100.0
    assert t["quantity"] == np.floor(100_000.0 * 0.001 / (t["entry_price"] - stop))
    with pytest.raises(ValueError, match="sizing must be one of"):
        portfolio({"X": bars}, RULE, **KW, sizing="kelly")
    with pytest.raises(ValueError, match="max_positions must be an int >= 1"):
        portfolio({"X": bars}, RULE, **KW, max_positions=0)


def test_benchmark_buy_and_hold_and_plot():
    x = minute_bars(sessions=3, seed=5)
    spy = minute_bars(sessions=3, seed=9)
    book = portfolio({"X": x, "SPY": spy}, RULE, **KW)
    assert set(book.trades["symbol"]) == {"X"}                 # the benchmark is not traded
    bench = book.benchmark
    assert bench.iloc[0] == pytest.approx(100_000.0)
    assert bench.iloc[-1] == pytest.approx(100_000.0 * spy["close"].iloc[-1] / spy["close"].iloc[0])
    assert book.stats["benchmark_return_pct"] == pytest.approx((bench.iloc[-1] / 100_000.0 - 1) * 100)
    fig = book.plot()
    assert [t.name for t in fig.data][:2] == ["book", "SPY buy & hold"]
