"""sweep(): the same table inline, on a process pool, on a LocalCluster and from a dataset path; equal to backtest()."""


import pandas as pd
import pytest
from conftest import minute_bars, same_stat

from breakout_kit import BreakoutRule, backtest, sweep, walk_forward
from breakout_kit.client.ingest import dataset_dir
from breakout_kit.core.stats import STAT_NAMES
from breakout_kit.research.sweep import SweepWarning

GRID = {"lookback": [10, 40], "trigger": ["close", "high"], "take_profit_pct": [0.3, 1.0],
        "stop_loss_pct": [0.25], "max_holding_bars": [None, 20], "flat_at_session_end": [False, True]}
FIXED = {"commission": 0.01, "min_commission": 1.0}


@pytest.fixture(scope="module")
def frames():
    return {symbol: minute_bars(sessions=3, seed=i) for i, symbol in enumerate(["AAPL", "MSFT", "NVDA"])}


@pytest.fixture(scope="module")
def inline(frames):
    return sweep(frames, GRID, progress=False, workers=1, **FIXED)


def test_rows_equal_backtest(frames, inline):
    assert len(inline) == 3 * 32 and list(inline.columns[:2]) == ["symbol", "lookback"]
    assert inline["symbol"].tolist() == ["AAPL"] * 32 + ["MSFT"] * 32 + ["NVDA"] * 32
    assert inline.attrs["errors"] == {}
    for _, row in inline.iloc[::5].iterrows():
        ref = backtest(frames[row["symbol"]], BreakoutRule(row["lookback"], row["trigger"]),
                       take_profit_pct=row["take_profit_pct"], stop_loss_pct=row["stop_loss_pct"],
                       max_holding_bars=row["max_holding_bars"], flat_at_session_end=row["flat_at_session_end"],
                       **FIXED).stats
        assert all(same_stat(ref[k], row[k]) for k in STAT_NAMES), row.to_dict()


def test_process_pool_gives_the_same_table(frames, inline):
    pooled = sweep(frames, GRID, progress=False, workers=2, **FIXED)
    pd.testing.assert_frame_equal(pooled, inline)


def test_local_cluster_gives_the_same_table(frames, inline, tmp_path):
    from distributed import Client, LocalCluster

    root = tmp_path / "bars"
    for symbol, bars in frames.items():
        folder = dataset_dir(root, symbol, "1 min")
        folder.mkdir(parents=True)
        bars.to_parquet(folder / "part-0.parquet")
    # processes=False: scheduler and workers in this process; tcp on loopback only (every listener on 127.0.0.1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        on_cluster = sweep(frames, GRID, client=client, progress=False, **FIXED)
        from_path = sweep(str(root), GRID, client=client, progress=False, **FIXED)
        walked = walk_forward(str(root), GRID, train=2, test=1, client=client, progress=False, **FIXED)
    pd.testing.assert_frame_equal(on_cluster, inline)
    here = walk_forward(frames, GRID, train=2, test=1, progress=False, workers=1, **FIXED)
    pd.testing.assert_frame_equal(walked.folds, here.folds)
    pd.testing.assert_frame_equal(walked.stitched, here.stitched)
    assert len(here.folds) == 3 and here.folds["trades"].gt(0).all()
    pd.testing.assert_frame_equal(from_path, inline)        # workers read their own partitions


def test_dataset_path_locally(frames, inline, tmp_path):
    for symbol, bars in frames.items():
        folder = dataset_dir(tmp_path, symbol, "1 min")
        folder.mkdir(parents=True)
        bars.iloc[:500].to_parquet(folder / "part-a.parquet")
        bars.iloc[500:].to_parquet(folder / "part-b.parquet")
    pd.testing.assert_frame_equal(sweep(tmp_path, GRID, progress=False, workers=1, **FIXED), inline)
    only = sweep(tmp_path, GRID, progress=False, workers=1, symbols=["msft"], **FIXED)
    assert set(only["symbol"]) == {"MSFT"} and len(only) == 32


def test_a_failing_symbol_is_named_and_the_others_stay(frames, inline):
    broken = {**frames, "BAD": frames["AAPL"].iloc[::-1]}
    with pytest.warns(SweepWarning, match="BAD: ValueError: out-of-order"):
        out = sweep(broken, GRID, progress=False, workers=1, **FIXED)
    assert list(out.attrs["errors"]) == ["BAD"]
    pd.testing.assert_frame_equal(out, inline)


def test_bad_arguments(frames):
    with pytest.raises(ValueError, match=r"unknown sweep parameter\(s\) \['tp'\]"):
        sweep(frames, {"tp": [1]}, stop_loss_pct=1)
    with pytest.raises(TypeError, match="mapping"):
        sweep([1, 2], {"take_profit_pct": [1]}, stop_loss_pct=1)
    with pytest.raises(ValueError, match="not in data"):
        sweep(frames, {"take_profit_pct": [1]}, stop_loss_pct=1, symbols=["SPY"])
    with pytest.raises(ValueError, match="no symbols"):
        sweep({}, {"take_profit_pct": [1]}, stop_loss_pct=1)
    with pytest.raises(ValueError, match="workers"):
        sweep(frames, {"take_profit_pct": [1]}, stop_loss_pct=1, workers=0, progress=False)


def test_dataset_behind_an_fsspec_url(frames, inline):
    """Any fsspec URL works as the dataset (here fsspec's in-memory filesystem; s3:// is the same code path)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "memory://sweep-test/bars"
    try:
        for symbol, bars in frames.items():
            with fs.open(f"{root}/symbol={symbol}/bar_size=1_min/part-0.parquet", "wb") as f:
                bars.to_parquet(f)
        fs.pipe(f"{root}/symbol=AAPL/bar_size=1_min/_ingest.json", b"{}")
        out = sweep(root, GRID, progress=False, workers=1, **FIXED)
    finally:
        fs.rm("/sweep-test", recursive=True)
    pd.testing.assert_frame_equal(out, inline)


def test_sweep_heatmap_reduces_the_other_axes():
    from breakout_kit.notebook.plots import sweep_heatmap

    table = pd.DataFrame({"symbol": ["A", "B", "A", "B"], "lookback": [10, 10, 20, 20],
                          "take_profit_pct": [1.0, 1.0, 1.0, 1.0], "sharpe": [1.0, 3.0, float("inf"), 4.0]})
    z = sweep_heatmap(table).data[0].z
    assert z.tolist() == [[2.0], [4.0]]             # mean over symbols; inf left out
    with pytest.raises(ValueError, match="no column"):
        sweep_heatmap(table, value="sortino")
