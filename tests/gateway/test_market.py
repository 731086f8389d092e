"""Synthetic market through the client: determinism, planted breakouts, scenarios, intraday shape."""

from datetime import datetime, timedelta, timezone

import pytest

from breakout_kit.client.iblib import Stock
from breakout_kit.gateway import PaperGateway

from .conftest import connect

pytestmark = pytest.mark.ib
PAST = datetime(2026, 11, 21, 1, 0, tzinfo=timezone.utc)   # Friday 20:00 New York: the whole day


async def fetch(gw, client_id, symbol="AAPL", end=PAST, duration="1 D", bar_size="1 min", rth=False):
    async with connect(gw, client_id) as ib:
        bars = await ib.reqHistoricalDataAsync(Stock(symbol, "SMART", "USD"), end, duration, bar_size, "TRADES",
                                               rth, 2)
    return [(b.date, b.open, b.high, b.low, b.close, b.volume) for b in bars]


async def test_same_seed_same_bars_different_seed_different(session_open, client_id):
    results = []
    for seed in (7, 7, 8):
        async with PaperGateway(port=0, seed=seed, speed=60.0, start=session_open, pacing="off") as gw:
            results.append(await fetch(gw, client_id))
    assert len(results[0]) == 960
    assert results[0] == results[1]
    assert results[0] != results[2]
    assert [b[0] for b in results[0]] == [b[0] for b in results[2]]


def breakouts(bars, lookback=20):
    """Times where close > max(high of the previous ``lookback`` bars) (architecture.md channel rule)."""
    return [bars[i][0] for i in range(lookback, len(bars))
            if bars[i][4] > max(b[2] for b in bars[i - lookback:i])]


async def test_every_symbol_breaks_out_within_30_minutes(session_open, client_id):
    # 3600x: the first 30 simulated minutes pass in half a real second
    async with PaperGateway(port=0, seed=0, speed=3600.0, start=session_open, pacing="off") as gw, \
            connect(gw, client_id) as ib:
        end = session_open + timedelta(minutes=31)
        while gw.now() < end:
            await ib.reqCurrentTimeAsync()
        for symbol in gw.symbols():
            for rth in (False, True):
                bars = await ib.reqHistoricalDataAsync(Stock(symbol, "SMART", "USD"), end, "3600 S",
                                                       "1 min", "TRADES", rth, 2)
                rows = [(b.date, b.open, b.high, b.low, b.close, b.volume) for b in bars]
                hits = [t for t in breakouts(rows)
                        if session_open <= t < session_open + timedelta(minutes=30)]
                assert hits, f"{symbol} (useRTH={rth}) has no 20-bar breakout in the first 30 minutes"


async def test_planted_scenario(session_open, client_id):
    async with PaperGateway(port=0, seed=3, speed=60.0, start=session_open, pacing="off",
                            plant_breakouts=False) as gw:
        at = gw.market.plant_breakout("MSFT", datetime(2026, 11, 20, 11, 0, tzinfo=session_open.tzinfo),
                                      size_pct=-1.0)
        bars = await fetch(gw, client_id, "MSFT")
    i = next(k for k, b in enumerate(bars) if b[0] == at)
    lowest = min(b[3] for b in bars[i - 20:i])
    assert bars[i][4] <= round(lowest * 0.99, 2) + 0.01    # closes 1 % below the 20-minute low (to the cent)
    assert bars[i][5] > 2 * sum(b[5] for b in bars[i - 20:i]) / 20   # on heavy volume


async def test_intraday_shape(session_open, client_id):
    async with PaperGateway(port=0, seed=0, speed=60.0, start=session_open, pacing="off") as gw:
        bars = await fetch(gw, client_id, "SPY", duration="5 D", bar_size="30 mins", rth=False)
    by_slot = {}
    for b in bars:
        slot = b[0].astimezone(session_open.tzinfo).strftime("%H:%M")
        by_slot.setdefault(slot, []).append(b[5])
    mean = {k: sum(v) / len(v) for k, v in by_slot.items()}
    assert set(mean) >= {"04:00", "09:30", "12:30", "15:30", "19:30"}
    # volume smile: heavy open and close, quiet lunch, thin extended hours
    assert mean["09:30"] > 2 * mean["12:30"] and mean["15:30"] > 1.5 * mean["12:30"]
    assert mean["12:30"] > 3 * mean["19:30"] and mean["12:30"] > 3 * mean["04:00"]
    ranges = {k: [] for k in ("09:30", "12:30")}
    for b in bars:
        slot = b[0].astimezone(session_open.tzinfo).strftime("%H:%M")
        if slot in ranges:
            ranges[slot].append((b[2] - b[3]) / b[4])
    assert sum(ranges["09:30"]) > sum(ranges["12:30"])      # wider ranges at the open


def test_plant_breakout_validates_input():
    gw = PaperGateway(port=0, start="2026-11-23T09:30")
    with pytest.raises(ValueError, match="timezone-aware"):
        gw.market.plant_breakout("AAPL", datetime(2026, 11, 23, 10, 0), 1.0)
    with pytest.raises(ValueError, match="outside the trading grid"):
        gw.market.plant_breakout("AAPL", datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc), 1.0)
    with pytest.raises(ValueError, match="unknown symbol"):
        gw.market.plant_breakout("NOPE", datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc), 1.0)
