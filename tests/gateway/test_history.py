"""Historical data through the real client: formats, bar sizes, durations, RTH, what-to-show, errors,
keepUpToDate, head timestamp, and consistency of aggregation."""

import asyncio
import itertools
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

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


FRIDAY_CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=timezone.utc)     # 16:00 New York


@pytest.mark.parametrize("bar_size,duration,count", [
    ("1 secs", "60 S", 60), ("5 secs", "600 S", 120), ("10 secs", "600 S", 60), ("15 secs", "600 S", 40),
    ("30 secs", "1800 S", 60), ("1 min", "1 D", 390), ("2 mins", "1 D", 195), ("3 mins", "1 D", 130),
    ("5 mins", "1 D", 78), ("10 mins", "1 D", 39), ("15 mins", "1 D", 26), ("20 mins", "1 D", 20),
    ("30 mins", "1 D", 13), ("1 hour", "1 D", 7), ("2 hours", "1 D", 4), ("3 hours", "1 D", 3),
    ("4 hours", "1 D", 2), ("8 hours", "1 D", 1), ("1 day", "1 W", 5), ("1 week", "1 M", 5),
    ("1 month", "1 Y", 13),
])
async def test_every_bar_size(ib, bar_size, duration, count):
    bars = await ib.reqHistoricalDataAsync(AAPL, FRIDAY_CLOSE, duration, bar_size, "TRADES", True, 2)
    assert len(bars) == count
    dates = [b.date for b in bars]
    assert dates == sorted(set(dates))
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high and b.volume > 0 for b in bars)
    if bar_size in ("1 day", "1 week", "1 month"):             # session dates, with formatDate 2 as well
        assert all(type(d) is date and d.weekday() < 5 for d in dates) and dates[-1] <= date(2026, 11, 20)
    else:
        ny = ZoneInfo("America/New_York")
        assert all("09:30" <= d.astimezone(ny).strftime("%H:%M") < "16:00" for d in dates)


async def test_one_second_bars_add_up_to_five_second_bars(ib):
    ones = await ib.reqHistoricalDataAsync(AAPL, FRIDAY_CLOSE, "60 S", "1 secs", "TRADES", False, 2)
    fives = await ib.reqHistoricalDataAsync(AAPL, FRIDAY_CLOSE, "60 S", "5 secs", "TRADES", False, 2)
    assert len(ones) == 5 * len(fives) == 60
    for k, five in enumerate(fives):
        parts = ones[5 * k:5 * k + 5]
        assert (parts[0].open, parts[-1].close, sum(p.volume for p in parts)) == (five.open, five.close, five.volume)
        assert (max(p.high for p in parts), min(p.low for p in parts)) == (five.high, five.low)


async def test_weekly_and_monthly_bars_are_dated_by_their_first_session(ib):
    weeks = await ib.reqHistoricalDataAsync(AAPL, FRIDAY_CLOSE, "1 Y", "1 week", "TRADES", True, 1)
    days = await ib.reqHistoricalDataAsync(AAPL, FRIDAY_CLOSE, "1 Y", "1 day", "TRADES", True, 1)
    assert all(type(w.date) is date for w in weeks) and date(2026, 11, 16) == weeks[-1].date
    last_week = [d for d in days if d.date >= weeks[-1].date]
    assert weeks[-1].close == last_week[-1].close and weeks[-1].volume == sum(d.volume for d in last_week)
    months = await ib.reqHistoricalDataAsync(AAPL, FRIDAY_CLOSE, "1 Y", "1 month", "TRADES", True, 2)
    assert months[-1].date == date(2026, 11, 2) and months[-2].date == date(2026, 10, 1)


async def test_what_to_show_shapes(ib):
    got = {what: await ib.reqHistoricalDataAsync(AAPL, FRIDAY_CLOSE, "1 D", "1 hour", what, True, 2)
           for what in ("MIDPOINT", "BID_ASK", "HISTORICAL_VOLATILITY", "OPTION_IMPLIED_VOLATILITY")}
    assert all(len(bars) == 7 for bars in got.values())
    for mid, quote in zip(got["MIDPOINT"], got["BID_ASK"]):
        # BID_ASK: open = average bid, close = average ask, high = highest ask, low = lowest bid
        assert quote.low < quote.open < quote.close < quote.high
        assert quote.low < mid.low and quote.high > mid.high and quote.volume == -1
    for what in ("HISTORICAL_VOLATILITY", "OPTION_IMPLIED_VOLATILITY"):
        for b in got[what]:
            assert 0.01 < b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high < 3.0
            assert b.volume == -1
    # ADJUSTED_LAST only ends now (empty endDateTime); without corporate actions it equals TRADES
    adjusted = await ib.reqHistoricalDataAsync(AAPL, "", "2 D", "1 hour", "ADJUSTED_LAST", True, 2)
    trades = await ib.reqHistoricalDataAsync(AAPL, "", "2 D", "1 hour", "TRADES", True, 2)
    complete = {b.date: ohlcv(b) for b in trades if b.date.astimezone(timezone.utc) < FRIDAY_CLOSE}
    assert len(complete) >= 7 and complete == {
        b.date: ohlcv(b) for b in adjusted if b.date.astimezone(timezone.utc) < FRIDAY_CLOSE}


@pytest.mark.parametrize("end,duration,bar_size,what,keep_up,code,text", [
    ("", "3600 S", "1 secs", "TRADES", False, 162, "Time length exceed max."),
    ("", "90000 S", "1 min", "TRADES", False, 321, "longer than 86400 seconds must be made in days"),
    ("", "400 D", "1 day", "TRADES", False, 321, "longer than 365 days must be made in years"),
    (FRIDAY_CLOSE, "1 D", "1 hour", "ADJUSTED_LAST", False, 321, "adjusted last"),
    ("", "600 S", "1 secs", "TRADES", True, 321, "live updates"),
    ("", "1 D", "1 min", "FOO", False, 162, "No data of type FOO"),
])
async def test_refused_combinations_get_tws_errors(ib, end, duration, bar_size, what, keep_up, code, text):
    errors = collect_errors(ib)
    bars = await ib.reqHistoricalDataAsync(AAPL, end, duration, bar_size, what, False, 1, keepUpToDate=keep_up,
                                           timeout=1)
    assert list(bars) == []
    assert [c for _, c, _ in errors] == [code] and text in errors[0][2]
