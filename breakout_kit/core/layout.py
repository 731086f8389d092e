"""Names of the on-disk bar dataset (hive partitioning), shared by the writer (``client.ingest``) and the readers.

A dataset is a folder of Parquet parts partitioned as ``symbol=<SYMBOL>/bar_size=<bar size, spaces as _>/``, so
``pandas.read_parquet(root)``, ``dask.dataframe.read_parquet(root)`` and DuckDB's ``read_parquet('root/**/*.parquet',
hive_partitioning=true)`` read it whole, with ``symbol`` and ``bar_size`` columns. Bookkeeping files start with
``_`` (Parquet readers skip those). Pure names and frame tidying only: no I/O here.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["BOOKKEEPING", "partition", "partition_value", "tidy_bars"]

#: per-partition bookkeeping (resume state); the leading underscore makes Parquet readers skip it
BOOKKEEPING = "_ingest.json"


def partition_value(bar_size: str) -> str:
    """The ``bar_size=`` value of a bar size: ``"1 min"`` -> ``"1_min"`` (no spaces in paths)."""
    return bar_size.replace(" ", "_")


def partition(symbol: str, bar_size: str, rth: bool = False) -> tuple[str, str]:
    """The two folder names of one symbol and bar size, e.g. ``("symbol=AAPL", "bar_size=1_min")``; regular-hours
    bars (IB's useRTH) live apart, in ``bar_size=1_min_rth``, so the two never mix."""
    return f"symbol={symbol_value(symbol)}", f"bar_size={partition_value(bar_size)}{'_rth' if rth else ''}"


def symbol_value(symbol: str) -> str:
    """The ``symbol=`` value: upper case, ``/`` escaped as ``%2F`` (``/ES`` -> ``%2FES``), as hive partitioning
    (pyarrow's ``segment_encoding="uri"``) reads it back."""
    return symbol.upper().replace("%", "%25").replace("/", "%2F")


def symbol_of(value: str) -> str:
    """The symbol of a ``symbol=`` folder value (the inverse of ``symbol_value``)."""
    return value.replace("%2F", "/").replace("%25", "%")


def tidy_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Parts concatenated in any order -> sorted by time, one row per bar time (a later part wins), index ``time``."""
    frame = frame.sort_index(kind="stable")
    frame = frame[~frame.index.duplicated(keep="last")]
    frame.index.name = "time"
    return frame
