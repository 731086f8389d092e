"""Read one symbol's bars from an ``ingest`` Parquet dataset, inside whichever process runs the task.

Paths may be local or any fsspec URL (``s3://bucket/bars`` with s3fs installed, ``gs://...``): pandas opens them
through fsspec, so the workers of a cluster read their own partitions from shared storage and nothing travels
through the client.
"""

from __future__ import annotations

import pandas as pd

from breakout_kit.core.layout import partition, symbol_of, tidy_bars

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
    """The symbols that have ``bar_size`` bars under ``root`` (from the partition folder names; no data is read).

    ``root`` is a local path or any fsspec URL (``s3://``, ``gs://``, ``memory://`` ...)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(str(root))
    wanted = partition("X", bar_size)[1]
    parts = fs.glob(f"{path.rstrip('/')}/symbol=*/{wanted}/*.parquet")
    return sorted({symbol_of(p.rsplit("/", 3)[-3].split("=", 1)[1]) for p in parts})
