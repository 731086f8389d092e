"""Historical data through the real client: formats, bar sizes, durations, RTH, what-to-show, errors,
keepUpToDate, head timestamp, and consistency of aggregation."""

import asyncio
import itertools
from datetime import date, datetime, timedelta, timezone

import pytest

from breakout_kit.client.iblib import Stock

from .conftest import collect_errors, wait_until

pytestmark = pytest.mark.ib
AAPL = Stock("AAPL", "SMART", "USD")


def ohlcv(b):
    return (b.open, b.high, b.low, b.close, b.volume)


async def test_format_1_and_2_same_bars(ib, gateway):
    # one fixed end for both requests: with "" (now) a minute may complete between them on a loaded machine
    end = gateway.now().replace(second=0, microsecond=0).astimezone(timezone.utc).strftime("%Y%m%d-%H:%M:%S")
    f1 = await ib.reqHistoricalDataAsync(AAPL, end, "1 D", "1 min", "TRADES", False, 1)
    f2 = await ib.reqHistoricalDataAsync(AAPL, end, "1 D", "1 min", "TRADES", False, 2)
    assert len(f1) == len(f2) > 300
    assert all(b.date.tzinfo is not None for b in f1)          # formatDate=1 carries the zone: aware
    assert f2[0].date.tzinfo is not None and f2[0].date.utcoffset() == timedelta(0)
    assert [b.date for b in f1] == [b.date for b in f2]        # same instants
    assert [ohlcv(b) for b in f1] == [ohlcv(b) for b in f2]
    # pre-market of the start day up to the gateway clock, one bar per minute
    ny = f1[0].date.tzinfo
    assert f1[0].date == datetime(2026, 11, 23, 4, 0, tzinfo=ny)
    assert timedelta(0) < gateway.now() - f1[-1].date < timedelta(minutes=2)
    assert all((b2.date - b1.date) == timedelta(minutes=1) for b1, b2 in itertools.pairwise(f1))


@pytest.mark.parametrize("bar_size,seconds", [("5 secs", 5), ("30 secs", 30), ("5 mins", 300), ("1 hour", 3600)])
async def test_bar_sizes_aggregate_consistently(ib, bar_size, seconds):
    end = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)   # a past Friday, 11:00 New York
    base = await ib.reqHistoricalDataAsync(AAPL, end, "7200 S", "5 secs", "TRADES", False, 2)
    big = await ib.reqHistoricalDataAsync(AAPL, end, "7200 S", bar_size, "TRADES", False, 2)
    assert len(base) == 7200 // 5 and len(big) == 7200 // seconds
    for b in big:
        parts = [x for x in base if b.date <= x.date < b.date + timedelta(seconds=seconds)]
        assert len(parts) == seconds // 5
        assert b.open == parts[0].open and b.close == parts[-1].close
        assert b.high == max(p.high for p in parts) and b.low == min(p.low for p in parts)
        assert b.volume == sum(p.volume for p in parts)
        assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high


async def test_daily_bars_and_rth(ib):
    days = await ib.reqHistoricalDataAsync(AAPL, "", "1 M", "1 day", "TRADES", True, 1)
    assert len(days) == 21
    assert all(isinstance(b.date, date) and not isinstance(b.date, datetime) for b in days)
    assert all(b.date.weekday() < 5 for b in days)
    assert days[-1].date == date(2026, 11, 20)                 # RTH of the start day has not begun
    rth = await ib.reqHistoricalDataAsync(AAPL, datetime(2026, 11, 20, 21, 0, tzinfo=timezone.utc),
                                          "1 D", "1 min", "TRADES", True, 1)
    assert len(rth) == 390
    assert rth[0].date.hour == 9 and rth[0].date.minute == 30
    assert rth[-1].date.hour == 15 and rth[-1].date.minute == 59
    assert rth[-1].close == days[-1].close and rth[0].open == days[-1].open
    assert max(b.high for b in rth) == days[-1].high
    assert sum(b.volume for b in rth) == days[-1].volume


async def test_durations_w_and_y(ib):
    week = await ib.reqHistoricalDataAsync(AAPL, "", "1 W", "1 hour", "TRADES", True, 2)
    assert len({b.date.date() for b in week}) == 5
    year = await ib.reqHistoricalDataAsync(Stock("SPY", "SMART", "USD"), "", "1 Y", "1 day", "TRADES", True, 1)
    assert len(year) == 252
    assert 100 < min(b.low for b in year) < max(b.high for b in year) < 2000


async def test_what_to_show_variants(ib):
    end = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)
    got = {}
    for what in ("TRADES", "MIDPOINT", "BID", "ASK"):
        got[what] = await ib.reqHistoricalDataAsync(AAPL, end, "600 S", "1 min", what, False, 2)
        assert len(got[what]) == 10
    for t, m, b, a in zip(got["TRADES"], got["MIDPOINT"], got["BID"], got["ASK"]):
        assert b.close < m.close < a.close
        assert m.close == t.close
    assert got["MIDPOINT"][0].volume == -1


@pytest.mark.parametrize("bar_size,duration", [("7 mins", "1 D"), ("1 min", "1 X"), ("1 min", "D 1"),
                                               ("banana", "60 S")])
async def test_bad_bar_size_or_duration_321(ib, bar_size, duration):
    errors = collect_errors(ib)
    # TWS sends only the 321: ib_insync ends the request on it, ib_async (321 = warning) on its timeout
    bars = await ib.reqHistoricalDataAsync(AAPL, "", duration, bar_size, "TRADES", False, 1, timeout=1)
    assert list(bars) == []
    assert [code for _, code, _ in errors] == [321]
    assert ("bar size" in errors[0][2]) == (bar_size != "1 min")


async def test_unknown_what_to_show_and_too_long(ib):
    errors = collect_errors(ib)
    await ib.reqHistoricalDataAsync(AAPL, "", "1 D", "1 min", "FOO", False, 1)
    await ib.reqHistoricalDataAsync(AAPL, "", "2 Y", "5 secs", "TRADES", False, 1)
    assert [code for _, code, _ in errors] == [162, 162]


async def test_head_timestamp(ib):
    head = await ib.reqHeadTimeStampAsync(AAPL, "TRADES", True, 1)
    assert head.tzinfo is not None and head.year < 2010
    head2 = await ib.reqHeadTimeStampAsync(AAPL, "TRADES", True, 2)
    assert head2 == head


async def test_keep_up_to_date_streams_updates(ib, gateway):
    bars = await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "1 min", "TRADES", False, 1, keepUpToDate=True)
    n0, first_date = len(bars), bars[-1].date
    updates = []
    bars.updateEvent += lambda b, has_new: updates.append(has_new)
    # at 60x a new minute bar begins within one real second
    await wait_until(ib, lambda: len(bars) > n0 and False in updates, timeout=5,
                     what="a new bar and an in-place update from keepUpToDate")
    assert bars[n0].date == first_date + timedelta(minutes=1)
    assert bars[-1].date <= gateway.now()
    assert updates.count(False) >= 1 and updates.count(True) >= 1
    ib.cancelHistoricalData(bars)
    await ib.reqCurrentTimeAsync()          # a round trip: the gateway has processed the cancel
    assert not gateway.marketdata.subs
    # the streamed (now complete) bar equals the bar fetched afterwards
    done = bars[-2]
    later = await ib.reqHistoricalDataAsync(AAPL, "", "600 S", "1 min", "TRADES", False, 1)
    match = [b for b in later if b.date == done.date]
    assert match and ohlcv(match[0]) == ohlcv(done)


async def test_keep_up_to_date_with_end_rejected(ib):
    errors = collect_errors(ib)
    end = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)
    bars = await asyncio.wait_for(ib.reqHistoricalDataAsync(AAPL, end, "600 S", "1 min", "TRADES", False, 1,
                                                            keepUpToDate=True, timeout=1), 5)   # as above
    assert list(bars) == []
    assert [code for _, code, _ in errors] == [321]


async def test_keep_up_to_date_daily_bars_update_in_place(ib, gateway):
    bars = await ib.reqHistoricalDataAsync(AAPL, "", "5 D", "1 day", "TRADES", False, 2, keepUpToDate=True)
    n0 = len(bars)
    assert n0 == 5 and bars[-1].date == date(2026, 11, 23)     # today's bar so far (pre-market included)
    v0 = bars[-1].volume
    await wait_until(ib, lambda: bars[-1].volume > v0, timeout=5, what="today's bar to grow")
    assert len(bars) == n0
    ib.cancelHistoricalData(bars)


async def test_gateway_history_truth_matches_client(ib, gateway):
    end = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)
    got = await ib.reqHistoricalDataAsync(AAPL, end, "1800 S", "1 min", "TRADES", False, 2)
    truth = gateway.history("AAPL", 60, end - timedelta(minutes=30), end)
    assert [(b.date.timestamp(), b.open, b.high, b.low, b.close, b.volume) for b in got] == [
        (t.time, t.open, t.high, t.low, t.close, t.volume) for t in truth]
