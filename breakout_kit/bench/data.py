"""Synthetic bars for the benchmarks: a seeded, fat-tailed random walk of 1-minute OHLCV bars.

Deterministic (same ``n`` and ``seed`` -> same bars), so benchmark runs compare like with like. Prices are a
Student-t random walk with a little intrabar range and lognormal volume: enough breakouts (and breakout runs) that
the detector, ``scan`` and the backtest all do real work.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd

from breakout_kit.core.breakout import Bar

#: first bar of every synthetic series (a Monday, 09:30 New York)
START = datetime(2026, 11, 23, 14, 30, tzinfo=timezone.utc)


def synthetic_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` 1-minute bars (columns open high low close volume, UTC DatetimeIndex ``time``)."""
    if n < 1:
        raise ValueError(f"need at least one bar, got n={n}")
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.0008))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.0006, n)) * close
    high = np.maximum(open_, close) + wick
    low = np.minimum(open_, close) - wick
    volume = rng.lognormal(7.0, 0.6, n).round()
    index = pd.date_range(START, periods=n, freq="min", name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def bar_chunks(frame: pd.DataFrame, size: int = 100_000):
    """The frame's rows as lists of :class:`Bar` (``datetime`` times, float fields), ``size`` bars at a time.

    Chunked so a million bars never sit in memory as Python objects at once; building them is not what is timed.
    """
    for lo in range(0, len(frame), size):
        part = frame.iloc[lo:lo + size]
        times = part.index.to_pydatetime()
        cols = [part[c].to_numpy().tolist() for c in ("open", "high", "low", "close", "volume")]
        yield [Bar(t, o, h, lo_, c, v) for t, o, h, lo_, c, v in zip(times, *cols, strict=True)]
