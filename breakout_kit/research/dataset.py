"""Read one symbol's bars from an ``ingest`` Parquet dataset, inside whichever process runs the task.

Paths may be local or any fsspec URL (``s3://bucket/bars``, ``gs://...``): pyarrow resolves them, so workers of a
cluster read their own partitions from shared storage and nothing travels through the client.
"""

from __future__ import annotations

import pandas as pd

from breakout_kit.core.layout import partition, partition_value, tidy_bars

__all__ = ["dataset_symbols", "partition_path", "read_symbol"]


def partition_path(root, symbol: str, bar_size: str = "1 min") -> str:
    """The folder (or URL) of one symbol and bar size under ``root``."""
    return "/".join([str(root).rstrip("/"), *partition(symbol, bar_size)])


def read_symbol(root, symbol: str, bar_size: str = "1 min") -> pd.DataFrame:
    """The bars of one symbol and bar size under ``root`` (only that partition is read), sorted and unique."""
    where = partition_path(root, symbol, bar_size)
    try:
        frame = pd.read_parquet(where)
    except (FileNotFoundError, OSError):
        frame = pd.DataFrame()
    if frame.empty:
        raise FileNotFoundError(f"no {bar_size} bars for {symbol.upper()} under {root} (expected {where})")
    return tidy_bars(frame)


def dataset_symbols(root, bar_size: str = "1 min") -> list[str]:
    """The symbols that have ``bar_size`` bars under ``root`` (from the partition folders; no data is read)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    keys = ds.partitioning(pa.schema([("symbol", pa.string()), ("bar_size", pa.string())]), flavor="hive")
    try:
        dataset = ds.dataset(str(root), format="parquet", partitioning=keys)
    except (FileNotFoundError, OSError) as e:
        raise FileNotFoundError(f"no Parquet dataset at {root}: {e}") from None
    wanted = ds.field("bar_size") == partition_value(bar_size)
    found = {ds.get_partition_keys(f.partition_expression).get("symbol")
             for f in dataset.get_fragments(filter=wanted)}
    return sorted(s for s in found if s)
