"""walk_forward() on a planted edge that holds only in the first half of the sessions."""

import numpy as np
import pandas as pd
import pytest

from breakout_kit import walk_forward

BARS_PER_SESSION = 100
BREAKOUTS_AT = (5, 30, 70)   # the first one is inside a test window's first lookback bars


def planted(sessions: int, edge_sessions: int) -> pd.DataFrame:
    """A slowly falling price (no breakouts) with three planted breakouts a session. In the first ``edge_sessions``
    sessions each breakout runs on (+0.1 % a bar for 20 bars); afterwards each one reverses (-0.1 % a bar)."""
    days = pd.bdate_range("2026-03-02", periods=sessions)
    times, closes = [], []
    price = 100.0
    for d, day in enumerate(days):
        drift = 1.001 if d < edge_sessions else 0.999
        run = 0
        for i in range(BARS_PER_SESSION):
            if i in BREAKOUTS_AT:
                price *= 1.01              # far above the falling channel
                run = 20
            elif run:
                price *= drift
                run -= 1
            else:
                price *= 0.9998
            closes.append(price)
            times.append(day + pd.Timedelta(hours=10, minutes=i))
    close = np.array(closes)
    open_ = np.r_[close[0], close[:-1]]
    index = pd.DatetimeIndex(times).tz_localize("America/New_York").tz_convert("UTC")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.00005,
                         "low": np.minimum(open_, close) * 0.99995, "close": close,
                         "volume": np.full(close.size, 1000.0)}, index=index)


def test_walk_forward_finds_the_edge_only_where_it_holds():
    bars = planted(sessions=12, edge_sessions=6)
    grid = {"lookback": [10], "take_profit_pct": [0.5, 1.0], "stop_loss_pct": [0.5]}
    result = walk_forward({"EDGE": bars}, grid, train=2, test=2, objective="total_return_pct", progress=False,
                          workers=1)
    folds = result.folds
    assert folds["fold"].tolist() == [0, 1, 2, 3, 4] and set(folds["symbol"]) == {"EDGE"}
    assert folds["test_start"].iloc[0] == bars.index[2 * BARS_PER_SESSION]
    after_end = [bars.index[bars.index.get_loc(t) + 1] for t in folds["test_end"].iloc[:-1]]
    assert folds["test_start"].iloc[1:].tolist() == after_end              # the test windows tile the data
    # three breakouts a session, two sessions a test window: the one at bar 5 of the window's first session trades
    # too, because the channel warms up on the train window's last bars
    assert (folds["trades"] == 6).all()
    edge = folds.iloc[:2]                                # trained and tested inside the edge
    assert (edge["take_profit_pct"] == 1.0).all() and (edge["is_total_return_pct"] > 0).all()
    assert (edge["total_return_pct"] > 0).all() and (edge["win_rate_pct"] == 100).all()
    assert folds.loc[2, "take_profit_pct"] == 1.0       # trained on the edge, tested after it vanished
    after = folds.iloc[2:]
    assert (after["total_return_pct"] < 0).all() and (after["win_rate_pct"] == 0).all()
    stitched = result.stitched.loc["EDGE"]
    assert stitched["trades"] == folds["trades"].sum()
    capital = 100_000.0
    assert stitched["final_equity"] - capital == pytest.approx((folds["final_equity"] - capital).sum())
    assert result.errors == {}


def test_walk_forward_arguments():
    bars = planted(sessions=4, edge_sessions=2)
    grid = {"take_profit_pct": [1.0], "stop_loss_pct": [0.5]}
    with pytest.raises(ValueError, match="objective"):
        walk_forward({"X": bars}, grid, train=2, test=1, objective="luck", progress=False, workers=1)
    with pytest.raises(ValueError, match="train"):
        walk_forward({"X": bars}, grid, train=0, test=1, progress=False, workers=1)
    with pytest.warns(UserWarning, match="X: ValueError: 4 sessions"):
        out = walk_forward({"X": bars}, grid, train=3, test=2, progress=False, workers=1)
    assert list(out.errors) == ["X"] and out.stitched.empty


def test_thin_or_infinite_in_sample_winners_are_not_picked():
    from breakout_kit.core.walkforward import _best

    stats = pd.DataFrame({"profit_factor": [np.inf, 2.0, 3.0, np.nan], "trades": [1, 10, 2, 0]})
    assert _best(stats, "profit_factor") == 2                 # inf (no losing trade) is luck, not a rule
    assert _best(stats, "profit_factor", min_trades=5) == 1
    assert _best(stats, "profit_factor", min_trades=50) is None
    with pytest.raises(ValueError, match="min_trades must be an int >= 0"):
        walk_forward({"X": planted(6, 3)}, {"lookback": [10], "take_profit_pct": [1], "stop_loss_pct": [1]},
                     train=2, test=1, min_trades=-1, workers=1, progress=False)


def test_anchored_windows_trades_equity_and_plot():
    bars = planted(sessions=10, edge_sessions=5)
    grid = {"lookback": [10, 20], "take_profit_pct": [0.5, 2.0], "stop_loss_pct": [0.5]}
    rolling = walk_forward({"X": bars}, grid, train=3, test=2, workers=1, progress=False)
    anchored = walk_forward({"X": bars}, grid, train=3, test=2, anchored=True, workers=1, progress=False)
    assert rolling.folds["train_start"].nunique() == len(rolling.folds) > 1
    assert (anchored.folds["train_start"] == bars.index[0]).all()
    assert list(anchored.folds["train_end"]) == list(rolling.folds["train_end"])
    for result in (rolling, anchored):
        stitched = result.stitched.loc["X"]
        trades = result.trades[result.trades["symbol"] == "X"]
        assert len(trades) == stitched["trades"] > 0
        assert set(trades["fold"]) <= set(result.folds["fold"])
        # the stitched equity ends where the trades' P&L takes the capital, as the stats say
        assert result.equity["X"].iloc[-1] == pytest.approx(100_000.0 + trades["pnl"].sum())
        assert result.equity["X"].iloc[-1] == pytest.approx(stitched["final_equity"])
    fig = rolling.plot()
    assert fig.data[0].name == "X" and len(fig.data[0].y) == len(rolling.equity)
