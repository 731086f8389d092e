"""backtest()'s new stats against a plain, independent implementation written out here loop by loop."""

import math
from collections import Counter

import numpy as np
import pytest
from conftest import minute_bars

from breakout_kit.core.backtest import backtest
from breakout_kit.core.breakout import BreakoutRule


def plain_stats(equity: list[float], times, pnl: list[float], capital: float, sessions: int) -> dict:
    n = len(equity)
    returns = []
    previous = capital
    for value in equity:
        returns.append(value / previous - 1.0)
        previous = value
    mean = sum(returns) / n
    variance = sum((r - mean) ** 2 for r in returns) / (n - 1)
    per_year = math.sqrt(252 * n / sessions)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
    years = sessions / 252
    # longest stretch below a previous peak, from the peak bar to the bar that regains it (or the last bar)
    longest, peak, peak_at, start = 0, -math.inf, 0, None
    span = (0, 0)
    for i, value in enumerate(equity):
        if value >= peak:
            if start is not None and i - peak_at > longest:
                longest, span = i - peak_at, (peak_at, i)
            peak, peak_at, start = value, i, None
        elif start is None:
            start = i
    if start is not None and n - 1 - peak_at > longest:
        longest, span = n - 1 - peak_at, (peak_at, n - 1)
    trades = len(pnl)
    avg = sum(pnl) / trades
    sd = math.sqrt(sum((p - avg) ** 2 for p in pnl) / (trades - 1))
    return {"sharpe": mean / math.sqrt(variance) * per_year, "sortino": mean / downside * per_year,
            "cagr_pct": ((equity[-1] / capital) ** (1 / years) - 1) * 100, "expectancy": avg,
            "sqn": math.sqrt(trades) * avg / sd, "max_drawdown_bars": longest,
            "max_drawdown_duration": times[span[1]] - times[span[0]]}


@pytest.mark.parametrize("seed, flat", [(0, False), (4, True), (11, False)])
def test_stats_match_a_plain_implementation(seed, flat):
    bars = minute_bars(sessions=8, seed=seed)
    capital = 25_000.0
    result = backtest(bars, BreakoutRule(15), take_profit_pct=0.4, stop_loss_pct=0.3, max_holding_bars=45,
                      flat_at_session_end=flat, commission=0.005, min_commission=1.0, initial_capital=capital)
    sessions = len(Counter(t.date() for t in bars.index.tz_convert("America/New_York")))
    assert sessions == 8
    want = plain_stats(result.equity.tolist(), list(result.equity.index), result.trades["pnl"].tolist(), capital,
                       sessions)
    got = result.stats
    assert got["trades"] > 10
    for key in ("sharpe", "sortino", "cagr_pct", "expectancy", "sqn"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    assert got["max_drawdown_bars"] == want["max_drawdown_bars"] > 0
    assert got["max_drawdown_duration"] == want["max_drawdown_duration"]
    assert got["expectancy_pct"] == pytest.approx(result.trades["return_pct"].mean())
    # one return per session, from the equity at each session's last bar (pandas, independently)
    closes = result.equity.groupby(result.equity.index.tz_convert("America/New_York").date).last()
    daily = closes / closes.shift(1, fill_value=capital) - 1.0
    assert got["sharpe_daily"] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(252), rel=1e-9)
    downside = math.sqrt((daily.clip(upper=0.0) ** 2).mean())
    assert got["sortino_daily"] == pytest.approx(daily.mean() / downside * math.sqrt(252), rel=1e-9)


def test_stats_without_trades():
    bars = minute_bars(sessions=2, seed=1)
    result = backtest(bars, BreakoutRule(5000), take_profit_pct=1, stop_loss_pct=1)
    s = result.stats
    assert s["trades"] == 0 and s["cagr_pct"] == 0.0 and s["max_drawdown_bars"] == 0
    assert math.isnan(s["sharpe"]) and math.isnan(s["sqn"]) and math.isnan(s["expectancy"])


def test_cagr_of_a_huge_gain_over_one_session_is_inf_not_an_error():
    from breakout_kit.core.stats import performance_stats

    close = np.array([1.0, 200.0, 200.0])
    stats = performance_stats(close=close, times_ns=np.arange(3) * 60_000_000_000, ei=np.array([0]),
                              xi=np.array([2]), ep=np.array([1.0]), xp=np.array([200.0]), q=np.array([1e9]),
                              fee_in=np.zeros(1), pnl=np.array([199e9]), capital=1e6, held_bars=3, signals=1,
                              sessions=1, day_ends=np.array([2]))
    assert stats["cagr_pct"] == math.inf and stats["total_return_pct"] > 1e6 and stats["trades"] == 1
