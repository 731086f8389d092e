"""Memory stays flat however many bars pass through a watcher (the window and signal log are bounded)."""

import gc
import math
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest

from breakout_kit.core.breakout import Bar, BreakoutRule
from breakout_kit.watch.watcher import BreakoutWatcher


def synthetic_bars(n, start=datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)):
    price = 100.0
    for i in range(n):
        price *= 1 + 0.002 * math.sin(i / 7.0) + 0.0015 * math.sin(i / 53.0)
        yield Bar(start + timedelta(minutes=i), price, price * 1.001, price * 0.999, price, 1000 + i % 97)


@pytest.mark.parametrize("n", [pytest.param(200_000, id="200k"),
                               pytest.param(1_000_000, id="1M", marks=pytest.mark.slow)])
def test_memory_growth_under_1mb(n):
    w = BreakoutWatcher(client=None, symbol="SYN", rule=BreakoutRule(lookback=20), max_bars=500)
    seen = []
    w.bar_event += lambda watcher, bar, channel: seen.append(1) if len(seen) < 1 else None
    bars = synthetic_bars(n)
    for _ in range(5_000):                    # warm up: window and detector full
        w._deliver(next(bars))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for bar in bars:
            w._deliver(bar)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert w.bars_seen == n
    assert len(w.bars) == 500 and len(w.signals) > 0
    assert growth < 1_000_000, f"grew {growth / 1e6:.2f} MB over {n} bars"
