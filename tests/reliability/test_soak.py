"""Soak: 20 watchers (on 4 clients, 5 each, as the CLI shares one client) stream an accelerated simulated hour.
Memory stays flat (traced Python allocations between a warmed-up point and the end; RSS reported too), no task,
thread or socket is left behind, and nothing warns. ``--runslow`` soaks 6 simulated hours.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
import warnings
from datetime import timedelta

import psutil
import pytest

from breakout_kit.client.ib_client import IBClient
from breakout_kit.gateway import PaperGateway
from breakout_kit.watch.watcher import BreakoutWatcher

from .storm import RULE, SESSION_OPEN, until

pytestmark = pytest.mark.ib

WATCHERS, CLIENTS = 20, 4
WARM_UP = timedelta(minutes=10)


def inet_sockets() -> int:
    return len(psutil.Process().net_connections(kind="inet"))


@pytest.mark.parametrize("hours, speed", [pytest.param(1, 1200.0, id="1h"),
                                          pytest.param(6, 900.0, id="6h", marks=pytest.mark.slow)])
async def test_soak_memory_flat_no_leaks(hours, speed, client_id, caplog):
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    threads_before = threading.active_count()
    sockets_before = inet_sockets()
    rss_before = psutil.Process().memory_info().rss
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with PaperGateway(port=0, seed=0, speed=speed, start=SESSION_OPEN, pacing="strict") as gw:
            clients = [IBClient(port=gw.port, client_id=client_id * 100 + i, clock_speed=speed)
                       for i in range(CLIENTS)]
            for c in clients:
                await c.connect()
            watchers = [BreakoutWatcher(clients[i % CLIENTS], s, rule=RULE, max_bars=200)
                        for i, s in enumerate(gw.symbols()[:WATCHERS])]
            for w in watchers:
                w.start()
            try:
                warm = gw.now() + WARM_UP
                for w in watchers:
                    await until(w.bar_event, lambda w=w: w.last_bar is not None and w.last_bar.time >= warm,
                                what=f"{w.symbol} warmed up")
                gc.collect()
                tracemalloc.start()
                traced_before = tracemalloc.get_traced_memory()[0]
                end = warm + timedelta(hours=hours)
                for w in watchers:
                    await until(w.bar_event, lambda w=w: w.last_bar.time >= end, timeout=hours * 3600 / speed + 30,
                                what=f"{w.symbol} at the end of the soak")
                gc.collect()
                traced_growth = tracemalloc.get_traced_memory()[0] - traced_before
                tracemalloc.stop()
                bars = sum(w.bars_seen for w in watchers)
                assert all(w.state == "live" and w.error is None for w in watchers)
                assert all(len(w.bars) == 200 for w in watchers)          # bounded windows, full
            finally:
                if tracemalloc.is_tracing():
                    tracemalloc.stop()
                await asyncio.gather(*(w.aclose() for w in watchers))
                for c in clients:
                    await c.disconnect()
        gc.collect()
    rss_growth = psutil.Process().memory_info().rss - rss_before
    print(f"\nsoak {hours} simulated h x {WATCHERS} watchers: {bars} bars, traced growth "
          f"{traced_growth / 1e6:.3f} MB, RSS growth {rss_growth / 1e6:.1f} MB (incl. warm-up), "
          f"tasks {tasks_before}->{len(asyncio.all_tasks())}, threads {threads_before}->{threading.active_count()}")
    assert traced_growth < 2_000_000 * hours, f"memory grew {traced_growth / 1e6:.2f} MB"
    assert len(asyncio.all_tasks()) == tasks_before
    assert threading.active_count() == threads_before
    assert inet_sockets() == sockets_before
    assert not caught, [str(w.message) for w in caught]
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR", "CRITICAL")]
