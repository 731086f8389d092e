"""Backtest fill rules on hand-checked trades, stats, plot, backtest_many and input errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from breakout_kit.core.backtest import BacktestResult, backtest, backtest_many
from breakout_kit.core.breakout import BreakoutDetector, BreakoutRule, bars_from_df

RULE = BreakoutRule(2, "close", "up")  # channel = previous two bars
T = pd.date_range("2026-11-23 14:30", periods=50, freq="1min", tz="UTC")

# bars 0-1 set the channel (upper 101); bar 2 closes at 102 > 101: an up signal. With next_open the trade enters
# at bar 3's open = 100, so take profit 5% = 105 and stop 2% = 98.
HEAD = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 102, 99.5, 102)]
ENTRY_BAR = (100, 101, 99, 100.5)  # opens at 100, touches neither 98 nor 105


def frame(rows, volume=1000.0):
    a = np.array(rows, dtype=float)
    return pd.DataFrame({"open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3],
                         "volume": volume}, index=T[:len(rows)])


def run(rows, **kw):
    kw = {"take_profit_pct": 5, "stop_loss_pct": 2, **kw}
    return backtest(frame(rows), RULE, **kw)


def only_trade(result):
    assert len(result.trades) == 1, result.trades
    return result.trades.iloc[0]


@pytest.mark.parametrize("exit_bar, exit_price, reason", [
    ((100.5, 105.5, 100, 105), 105.0, "take_profit"),     # high reaches 105
    ((100, 100.5, 97.5, 98.5), 98.0, "stop_loss"),        # low reaches 98
    ((100, 106, 97, 101), 98.0, "stop_loss"),             # touches both: the stop is assumed first
    ((96, 97, 95, 96.5), 96.0, "stop_loss"),              # gaps below the stop: fills at the open
    ((107, 108, 106.5, 107.5), 107.0, "take_profit"),     # gaps above the target: fills at the open
    ((100, 105, 98, 101), 98.0, "stop_loss"),             # touching exactly (==) counts, stop still first
])
def test_exit_rules_next_open(exit_bar, exit_price, reason):
    t = only_trade(run(HEAD + [ENTRY_BAR, exit_bar]))
    assert t.entry_time == T[3] and t.entry_price == 100.0
    assert t.exit_time == T[4] and t.exit_price == exit_price
    assert t.exit_reason == reason and t.bars_held == 1 and t.quantity == 100
    assert t.pnl == pytest.approx((exit_price - 100.0) * 100)
    assert t.return_pct == pytest.approx(exit_price - 100.0)


def test_exit_on_the_entry_bar_itself_with_next_open():
    t = only_trade(run(HEAD + [(100, 105.5, 99.5, 104)]))
    assert (t.exit_price, t.exit_reason, t.bars_held) == (105.0, "take_profit", 0)


def test_end_of_data_closes_at_last_close():
    t = only_trade(run(HEAD + [ENTRY_BAR, (100.5, 101, 99.5, 100.8)]))
    assert (t.exit_time, t.exit_price, t.exit_reason, t.bars_held) == (T[4], 100.8, "end_of_data", 1)
    assert t.pnl == pytest.approx(80.0)


def test_max_holding_bars_exits_at_that_bars_close():
    quiet = [ENTRY_BAR, (100.5, 101, 99.6, 100.7), (100.7, 101, 99.7, 100.9), (100.9, 101, 99.8, 100.2)]
    t = only_trade(run(HEAD + quiet, max_holding_bars=2))
    assert (t.exit_time, t.exit_price, t.exit_reason, t.bars_held) == (T[5], 100.9, "max_holding", 2)
    # a limit beyond the data is an end-of-data exit
    t = only_trade(run(HEAD + quiet, max_holding_bars=10))
    assert (t.exit_time, t.exit_price, t.exit_reason) == (T[6], 100.2, "end_of_data")


def test_signal_on_last_bar_opens_nothing():
    for entry in ("next_open", "signal"):
        r = run(HEAD, entry=entry)
        assert r.trades.empty and r.stats["signals"] == 1 and r.stats["trades"] == 0
        assert (r.equity == 100_000).all()


def test_entry_at_signal_price_checks_exits_from_next_bar():
    # signal bar 2: close 102 -> TP 107.1, stop 99.96. Bar 2's own low (99.5) is below that stop but is ignored.
    t = only_trade(run(HEAD + [(102, 107.5, 101, 107)], entry="signal"))
    assert (t.entry_time, t.entry_price) == (T[2], 102.0)
    assert (t.exit_time, t.exit_reason, t.bars_held) == (T[3], "take_profit", 1)
    assert t.exit_price == pytest.approx(107.1)
    # trigger high: enters at max(open, upper): bar 2 opens 100 below upper 101 -> 101; a gap open fills at the open
    r = backtest(frame(HEAD + [(101, 101.5, 100, 101)]), BreakoutRule(2, "high"), take_profit_pct=5,
                 stop_loss_pct=2, entry="signal")
    assert only_trade(r).entry_price == 101.0
    gap = HEAD[:2] + [(103, 104, 102.5, 103.5), (103.5, 104, 103, 103.8)]
    r = backtest(frame(gap), BreakoutRule(2, "high"), take_profit_pct=5, stop_loss_pct=2, entry="signal")
    assert only_trade(r).entry_price == 103.0


def test_one_position_at_a_time_signals_in_position_skipped():
    rows = HEAD + [
        (101, 102, 100, 100.5),    # 3: entry at 101; close 100.5 < upper 102 re-arms
        (101, 104, 100.5, 103.5),  # 4: signal while in the position -> skipped
        (103, 103.5, 102, 102.5),  # 5: re-arms
        (102.5, 106, 102, 105),    # 6: max_holding exit at this close (105) AND a new signal
        (105, 105.5, 104, 105),    # 7: entry at 105 (entry bar 7 is after exit bar 6)
        (105, 105.2, 104.5, 105.1),  # 8: end of data
    ]
    det = BreakoutDetector(RULE)
    signal_bars = [j for j, b in enumerate(bars_from_df(frame(rows))) if det.update(b)]
    assert signal_bars == [2, 4, 6]
    r = run(rows, take_profit_pct=50, stop_loss_pct=50, max_holding_bars=3)
    t = r.trades
    assert list(t.entry_time) == [T[3], T[7]] and list(t.entry_price) == [101.0, 105.0]
    assert list(t.exit_time) == [T[6], T[8]] and list(t.exit_price) == [105.0, 105.1]
    assert list(t.exit_reason) == ["max_holding", "end_of_data"]
    assert r.stats["signals"] == 3 and r.stats["trades"] == 2
    assert r.stats["win_rate_pct"] == 100.0 and r.stats["profit_factor"] == math.inf


def test_equity_and_stats_by_hand():
    r = run(HEAD + [ENTRY_BAR, (100, 100.5, 97.5, 98.5)])  # stop-loss trade, -200
    expected = [100_000, 100_000, 100_000, 100_050, 99_800]  # bar 3 marked at its close 100.5
    np.testing.assert_allclose(r.equity.to_numpy(), expected)
    assert list(r.equity.index) == list(T[:5])
    s = r.stats
    assert s["trades"] == 1 and s["win_rate_pct"] == 0.0 and s["profit_factor"] == 0.0
    assert s["total_return_pct"] == pytest.approx(-0.2)
    assert s["max_drawdown_pct"] == pytest.approx(250 / 100_050 * 100)
    assert s["exposure_pct"] == pytest.approx(40.0)  # bars 3 and 4 of 5
    assert s["avg_holding_bars"] == 1.0 and s["avg_holding_time"] == pd.Timedelta(minutes=1)
    assert s["final_equity"] == pytest.approx(99_800)


def test_sizing_and_commission():
    rows = HEAD + [ENTRY_BAR, (100.5, 105.5, 100, 105)]
    t = only_trade(run(rows, cash=1050))  # floor(1050 / 100) = 10 shares
    assert t.quantity == 10 and t.pnl == pytest.approx(50.0)
    t = only_trade(run(rows, quantity=7, commission=0.005, min_commission=1.0))  # 7 x 0.005 < 1 -> 1 per order
    assert t.pnl == pytest.approx(7 * 5 - 2.0)
    t = only_trade(run(rows, quantity=1000, commission=0.005, min_commission=1.0))  # 5 per order
    assert t.pnl == pytest.approx(1000 * 5 - 10.0)
    assert t.return_pct == pytest.approx((5000 - 10) / 100_000 * 100)
    assert run(rows, cash=50).trades.empty  # cannot buy a single share


def test_trades_follow_the_detector_on_a_random_walk():
    rng = np.random.default_rng(7)
    n = 3000
    c = np.round(100 + np.cumsum(rng.normal(0, 0.2, n)), 2)
    o = np.r_[c[0], c[:-1]]
    df = pd.DataFrame({"open": o, "high": np.maximum(o, c) + 0.05, "low": np.minimum(o, c) - 0.05, "close": c,
                       "volume": rng.integers(100, 1000, n).astype(float)},
                      index=pd.date_range("2026-01-02", periods=n, freq="1min", tz="UTC"))
    rule = BreakoutRule(20, "close", "both", 1.2)
    det = BreakoutDetector(rule)
    up_bars = [j for j, b in enumerate(bars_from_df(df)) if any(s.direction == "up" for s in det.update(b))]
    r = backtest(df, rule, take_profit_pct=1, stop_loss_pct=0.5)
    pos = {t: j for j, t in enumerate(df.index)}
    entries = [pos[t] for t in r.trades.entry_time]
    exits = [pos[t] for t in r.trades.exit_time]
    assert len(entries) >= 5
    assert all(e - 1 in up_bars for e in entries)
    assert all(nxt > prev for prev, nxt in zip(exits, entries[1:]))  # one position at a time
    # every skipped up signal happened while a position was open
    taken = {e - 1 for e in entries}
    for s in up_bars:
        if s not in taken and s + 1 < n:
            assert any(en <= s + 1 <= ex for en, ex in zip(entries, exits))
    assert r.stats["signals"] == len(up_bars)
    final = 100_000 + r.trades.pnl.sum()
    assert r.equity.iloc[-1] == pytest.approx(final)


def test_plot_returns_figure_with_price_channel_trades_and_equity():
    import plotly.graph_objects as go

    r = run(HEAD + [ENTRY_BAR, (100.5, 105.5, 100, 105)])
    fig = r.plot()
    assert isinstance(fig, go.Figure)
    names = [tr.name for tr in fig.data]
    assert names == ["price", "upper", "lower", "entry", "exit", "equity"]
    assert isinstance(fig.data[0], go.Candlestick)
    assert fig.data[-1].yaxis == "y2"
    assert list(fig.data[3].y) == [100.0] and list(fig.data[4].y) == [105.0]
    assert type(r.plot(max_candles=3).data[0]).__name__ == "Scattergl"


def test_plot_hides_the_night_between_sessions():
    df = frame((HEAD + [ENTRY_BAR, (100.5, 105.5, 100, 105)]) * 2)
    df.index = df.index[:5].append(df.index[:5] + pd.Timedelta(days=1))  # the same five minutes, next day
    fig = backtest(df, RULE, take_profit_pct=5, stop_loss_pct=2).plot()
    step = df.index[1] - df.index[0]
    wall = "%Y-%m-%d %H:%M:%S"
    assert [tuple(b.bounds) for b in fig.layout.xaxis.rangebreaks] == [
        ((df.index[4] + step).strftime(wall), df.index[5].strftime(wall))]
    assert not any("gl" in tr.type for tr in fig.data)  # WebGL traces vanish on axes with rangebreaks


def test_backtest_many_summary_by_symbol():
    good = frame(HEAD + [ENTRY_BAR, (100.5, 105.5, 100, 105)])
    bad = frame(HEAD + [ENTRY_BAR, (100, 100.5, 97.5, 98.5)])
    out = backtest_many({"AAA": good, "BBB": bad}, RULE, take_profit_pct=5, stop_loss_pct=2, progress=False)
    assert list(out.index) == ["AAA", "BBB"] and out.index.name == "symbol"
    assert list(out["trades"]) == [1, 1]
    assert out.loc["AAA", "total_return_pct"] == pytest.approx(0.5)
    assert out.loc["BBB", "total_return_pct"] == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="CCC: .*empty"):
        backtest_many({"AAA": good, "CCC": good.iloc[:0]}, RULE, take_profit_pct=5, stop_loss_pct=2,
                      progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"take_profit_pct": 0}, "take_profit_pct"),
    ({"take_profit_pct": -1}, "take_profit_pct"),
    ({"take_profit_pct": 100}, "take_profit_pct"),
    ({"stop_loss_pct": 0}, "stop_loss_pct"),
    ({"stop_loss_pct": 150}, "stop_loss_pct"),
    ({"stop_loss_pct": "x"}, "stop_loss_pct"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": -5}, "quantity"),
    ({"cash": 0}, "cash"),
    ({"quantity": 10, "cash": 1000}, "not both"),
    ({"entry": "close"}, "entry"),
    ({"max_holding_bars": 0}, "max_holding_bars"),
    ({"max_holding_bars": 2.5}, "max_holding_bars"),
    ({"commission": -0.01}, "commission"),
    ({"initial_capital": 0}, "initial_capital"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(HEAD + [ENTRY_BAR], **kwargs)


def test_bad_bars():
    kw = {"take_profit_pct": 5, "stop_loss_pct": 2}
    with pytest.raises(ValueError, match="empty"):
        backtest(frame(HEAD).iloc[:0], RULE, **kw)
    with pytest.raises(ValueError, match="missing column"):
        backtest(frame(HEAD).drop(columns="close"), RULE, **kw)
    with pytest.raises(ValueError, match="out-of-order"):
        backtest(frame(HEAD).iloc[[0, 2, 1]], RULE, **kw)
    with pytest.raises(ValueError, match="long-only"):
        backtest(frame(HEAD), BreakoutRule(2, direction="down"), **kw)
    with pytest.raises(TypeError, match="DataFrame"):
        backtest([1, 2], RULE, **kw)
    with pytest.raises(TypeError, match="mapping"):
        backtest_many([frame(HEAD)], RULE, **kw)
    assert isinstance(backtest(frame(HEAD), RULE, **kw), BacktestResult)


# Two New York sessions: 15:57..15:59 on Monday, then Tuesday from 09:30 (times in UTC).
DAYS = pd.DatetimeIndex(["2026-11-23 20:55", "2026-11-23 20:56", "2026-11-23 20:57", "2026-11-23 20:58",
                         "2026-11-23 20:59", "2026-11-24 14:30", "2026-11-24 14:31"], tz="UTC")


def two_days(rows):
    a = np.array(rows, dtype=float)
    return pd.DataFrame({"open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3], "volume": 1000.0},
                        index=DAYS[:len(rows)])


def test_flat_at_session_end_exits_at_the_days_last_close():
    rows = HEAD + [ENTRY_BAR, (100.5, 101, 99.5, 100.7), (101, 106, 100.5, 105.5)]
    held = only_trade(backtest(two_days(rows), RULE, take_profit_pct=5, stop_loss_pct=2))
    assert (held.exit_time, held.exit_reason) == (DAYS[5], "take_profit")        # held overnight by default
    t = only_trade(backtest(two_days(rows), RULE, take_profit_pct=5, stop_loss_pct=2, flat_at_session_end=True))
    assert (t.entry_time, t.exit_time, t.exit_price, t.exit_reason) == (DAYS[3], DAYS[4], 100.7, "session_end")
    # in Tokyo all these bars fall on one calendar day: nothing to flatten before the target is hit
    tokyo = backtest(two_days(rows), RULE, take_profit_pct=5, stop_loss_pct=2, flat_at_session_end=True,
                     session_tz="Asia/Tokyo")
    assert only_trade(tokyo).exit_reason == "take_profit"


def test_flat_at_session_end_skips_a_signal_entry_on_the_days_last_bar():
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 100.5, 99, 100), (100, 101, 99, 100),
            (100, 102, 99.5, 102), (102, 103, 101, 102.5)]                       # signal on 15:59, Monday's last
    kw = {"take_profit_pct": 5, "stop_loss_pct": 2, "entry": "signal"}
    assert len(backtest(two_days(rows), RULE, **kw).trades) == 1
    assert len(backtest(two_days(rows), RULE, flat_at_session_end=True, **kw).trades) == 0


@pytest.mark.parametrize("kwargs, error", [({"flat_at_session_end": "yes"}, TypeError),
                                           ({"flat_at_session_end": True, "session_tz": "Mars/Base"}, ValueError)])
def test_flat_at_session_end_bad_arguments(kwargs, error):
    with pytest.raises(error):
        backtest(two_days(HEAD + [ENTRY_BAR]), RULE, take_profit_pct=5, stop_loss_pct=2, **kwargs)
