"""The ingest dataset is plain hive-partitioned Parquet: pandas, Dask and DuckDB read the folder in one line."""


import pandas as pd
import pytest
from conftest import minute_bars

from breakout_kit.client.ingest import _covered_from, _set_covered_from, _write, dataset_dir, load


@pytest.fixture
def dataset(tmp_path):
    frames = {}
    for i, symbol in enumerate(["AAPL", "MSFT"]):
        bars = minute_bars(sessions=2, seed=i)
        folder = dataset_dir(tmp_path, symbol, "1m")
        _write(folder, bars.iloc[:300])                       # two parts, as a resumed ingest leaves them
        _write(folder, bars.iloc[300:])
        _set_covered_from(folder, bars.index[0])
        frames[symbol] = bars
    return tmp_path, frames


def test_layout_and_bookkeeping_stay_out_of_the_readers_way(dataset):
    root, frames = dataset
    folder = root / "symbol=AAPL" / "bar_size=1_min"
    assert dataset_dir(root, "aapl", "1 min") == folder
    names = sorted(p.name for p in folder.iterdir())
    assert names[0] == "_ingest.json" and all(n.startswith("part-") for n in names[1:]) and len(names) == 3
    whole = pd.read_parquet(root)
    assert len(whole) == sum(len(f) for f in frames.values())
    assert sorted(whole["symbol"].astype(str).unique()) == ["AAPL", "MSFT"]
    assert set(whole["bar_size"].astype(str)) == {"1_min"}
    aapl = whole[whole["symbol"] == "AAPL"].drop(columns=["symbol", "bar_size"]).sort_index()
    pd.testing.assert_frame_equal(aapl, frames["AAPL"], check_index_type=False, check_freq=False)


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # dask's own use of pandas' inplace=
def test_dask_reads_the_folder(dataset):
    import dask.dataframe as dd

    root, frames = dataset
    whole = dd.read_parquet(str(root)).compute()
    assert len(whole) == sum(len(f) for f in frames.values())
    msft = whole[whole["symbol"] == "MSFT"]["close"].sort_index()
    assert msft.tolist() == frames["MSFT"]["close"].tolist()


def test_duckdb_reads_the_folder(dataset):
    import duckdb

    root, frames = dataset
    count = duckdb.sql(f"select count(*) from read_parquet('{root}/**/*.parquet', hive_partitioning = true)"
                       ).fetchall()[0][0]
    assert count == sum(len(f) for f in frames.values())


def test_load_by_symbol_and_time_range(dataset):
    root, frames = dataset
    pd.testing.assert_frame_equal(load(root, "AAPL"), frames["AAPL"], check_index_type=False, check_freq=False)
    both = load(root)
    assert list(both) == ["AAPL", "MSFT"] and len(both["MSFT"]) == len(frames["MSFT"])
    assert list(load(root, ["msft"])) == ["MSFT"]
    start, end = frames["AAPL"].index[100], frames["AAPL"].index[450]
    part = load(root, "AAPL", "1 min", start=start, end=end.tz_convert("America/New_York"))
    assert part.index[0] == start and part.index[-1] == end and len(part) == 351
    naive = load(root, "AAPL", start=start.tz_localize(None))             # naive times are UTC
    assert naive.index[0] == start
    with pytest.raises(FileNotFoundError, match="ZZZ"):
        load(root, "ZZZ")
    with pytest.raises(FileNotFoundError, match="no 5 mins data"):
        load(root, bar_size="5m")


def test_a_folder_of_the_first_layout_is_adopted(tmp_path):
    """dest/AAPL/1_min/part-*.parquet + covered_from.txt (before the hive layout) moves into its partition."""
    bars = minute_bars(sessions=1, seed=5)
    old = tmp_path / "AAPL" / "1_min"
    old.mkdir(parents=True)
    bars.to_parquet(old / "part-1.parquet")
    (old / "covered_from.txt").write_text(bars.index[0].isoformat())
    pd.testing.assert_frame_equal(load(tmp_path, "AAPL"), bars, check_index_type=False, check_freq=False)
    assert not (tmp_path / "AAPL").exists()
    new = tmp_path / "symbol=AAPL" / "bar_size=1_min"
    assert sorted(p.name for p in new.iterdir()) == ["_ingest.json", "part-1.parquet"]
    assert _covered_from(new) == bars.index[0]
