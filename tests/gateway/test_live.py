"""Live data on the accelerated clock: real-time bars, market-data ticks, snapshots, cancels, line limit."""

import asyncio
import itertools
from datetime import timedelta

import pytest

from breakout_kit.client.iblib import Stock
from breakout_kit.gateway import PaperGateway

from .conftest import collect_errors, connect, wait_until

pytestmark = pytest.mark.ib
AAPL = Stock("AAPL", "SMART", "USD")


async def test_real_time_bars_at_accelerated_rate(ib, gateway):
    bars = ib.reqRealTimeBars(AAPL, 5, "TRADES", False)
    t0 = gateway.now()
    await wait_until(ib, lambda: len(bars) >= 12, timeout=10, what="12 real-time bars")
    elapsed = (gateway.now() - t0).total_seconds()
    # one bar per 5 simulated seconds: 12 bars need 55-65 simulated seconds (~1 s real at 60x)
    assert 55 <= elapsed <= 75, elapsed
    times = [b.time for b in bars]
    assert all(b - a == timedelta(seconds=5) for a, b in itertools.pairwise(times))
    assert all(b.low <= min(b.open_, b.close) <= max(b.open_, b.close) <= b.high for b in bars)
    assert bars[-1].time + timedelta(seconds=5) <= gateway.now()
    ib.cancelRealTimeBars(bars)
    await ib.reqCurrentTimeAsync()
    assert not gateway.marketdata.subs


async def test_live_bars_equal_history(ib, gateway):
    live = ib.reqRealTimeBars(AAPL, 5, "TRADES", False)
    await wait_until(ib, lambda: len(live) >= 6, timeout=10, what="6 real-time bars")
    ib.cancelRealTimeBars(live)
    hist = await ib.reqHistoricalDataAsync(AAPL, "", "300 S", "5 secs", "TRADES", False, 2)
    by_time = {b.date: b for b in hist}
    for rt in live:
        h = by_time[rt.time]
        assert (h.open, h.high, h.low, h.close, h.volume, h.average) == (
            rt.open_, rt.high, rt.low, rt.close, rt.volume, rt.wap)


async def test_real_time_bars_invalid_size_420(ib):
    errors = collect_errors(ib)
    ib.reqRealTimeBars(AAPL, 60, "TRADES", False)
    await ib.reqCurrentTimeAsync()
    assert [code for _, code, _ in errors] == [420]


async def qualified(ib, *symbols):
    """Qualified stock contracts: ib_async cannot hash (so not subscribe) a Contract without conId."""
    contracts = [Stock(s, "SMART", "USD") for s in symbols]
    assert await ib.qualifyContractsAsync(*contracts) == contracts and all(c.conId for c in contracts)
    return contracts


async def test_mkt_data_streaming_ticks_follow_bars(ib, gateway):
    [aapl] = await qualified(ib, "AAPL")
    ticker = ib.reqMktData(aapl)
    bars = ib.reqRealTimeBars(aapl, 5, "TRADES", False)
    await wait_until(ib, lambda: len(bars) >= 3 and ticker.last == bars[-1].close, timeout=10,
                     what="ticks matching the latest bar")
    assert ticker.bid < ticker.last < ticker.ask
    assert ticker.bidSize > 0 and ticker.askSize > 0
    v0 = ticker.volume
    await wait_until(ib, lambda: ticker.volume > v0, timeout=10, what="volume to grow")
    assert ticker.high >= ticker.last >= ticker.low > 0 and ticker.close > 0
    ib.cancelMktData(aapl)
    ib.cancelRealTimeBars(bars)
    await ib.reqCurrentTimeAsync()
    assert not gateway.marketdata.subs


async def test_mkt_data_snapshot(ib, gateway):
    [t1, t2] = await asyncio.wait_for(ib.reqTickersAsync(*await qualified(ib, "AAPL", "SPY")), 5)
    for t in (t1, t2):
        assert t.bid < t.last < t.ask and t.volume > 0
    assert not gateway.marketdata.subs          # snapshots hold no line


async def test_market_data_line_limit():
    async with PaperGateway(port=0, speed=60.0, pacing="off", max_market_data_lines=3) as gw, connect(gw, 1) as ib:
        errors = collect_errors(ib)
        aapl, msft, spy, qqq = await qualified(ib, "AAPL", "MSFT", "SPY", "QQQ")
        for c in (aapl, msft):
            ib.reqMktData(c)
        ib.reqRealTimeBars(spy, 5, "TRADES", False)
        ib.reqMktData(qqq)
        await ib.reqCurrentTimeAsync()
        assert [code for _, code, _ in errors] == [101]
        assert len(gw.marketdata.subs) == 3


async def test_scheduler_serves_every_boundary_in_order_at_3600x(session_open):
    # how far behind the clock it runs is a benchmark figure (bench: gateway scheduler), not a test: load varies
    async with PaperGateway(port=0, speed=3600.0, start=session_open, pacing="off") as gw, connect(gw, 1) as ib:
        subs = [ib.reqRealTimeBars(Stock(s, "SMART", "USD"), 5, "TRADES", False) for s in gw.symbols()[:10]]
        await wait_until(ib, lambda: min(len(b) for b in subs) >= 200, timeout=60, what="200 bars each")
        # every 5-second boundary served, in order, without gaps
        for b in subs:
            assert all(y.time - x.time == timedelta(seconds=5) for x, y in itertools.pairwise(b))
