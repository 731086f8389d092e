"""Historical pacing (error 162) on the gateway clock with pacing="strict"."""

from datetime import datetime, timedelta, timezone

import pytest

from breakout_kit.client.iblib import Stock
from breakout_kit.gateway import PaperGateway

from .conftest import collect_errors, connect

pytestmark = pytest.mark.ib
AAPL = Stock("AAPL", "SMART", "USD")
PAST = datetime(2026, 11, 20, 16, 0, tzinfo=timezone.utc)


def codes(errors):
    return [code for _, code, _ in errors]


async def test_identical_request_within_15s(session_open, client_id):
    async with PaperGateway(port=0, speed=1.0, start=session_open, pacing="strict") as gw, connect(gw, client_id) as ib:
        errors = collect_errors(ib)
        first = await ib.reqHistoricalDataAsync(AAPL, PAST, "600 S", "30 secs", "TRADES", False, 1)
        again = await ib.reqHistoricalDataAsync(AAPL, PAST, "600 S", "30 secs", "TRADES", False, 1)
        assert len(first) == 20 and list(again) == []
        assert codes(errors) == [162] and "pacing violation" in errors[0][2]
        other = await ib.reqHistoricalDataAsync(AAPL, PAST, "900 S", "30 secs", "TRADES", False, 1)
        assert len(other) == 30 and codes(errors) == [162]


async def test_six_requests_same_contract_in_2s(session_open, client_id):
    async with PaperGateway(port=0, speed=1.0, start=session_open, pacing="strict") as gw, connect(gw, client_id) as ib:
        errors = collect_errors(ib)
        for k in range(5):
            bars = await ib.reqHistoricalDataAsync(AAPL, PAST, f"{60 * (k + 1)} S", "30 secs", "TRADES",
                                                   False, 1)
            assert len(bars) == 2 * (k + 1)
        assert codes(errors) == []
        await ib.reqHistoricalDataAsync(AAPL, PAST, "3600 S", "30 secs", "TRADES", False, 1)
        assert codes(errors) == [162]
        # another contract is not affected
        spy = await ib.reqHistoricalDataAsync(Stock("SPY", "SMART", "USD"), PAST, "60 S", "30 secs", "TRADES",
                                              False, 1)
        assert len(spy) == 2 and codes(errors) == [162]


async def test_sixty_in_ten_minutes(session_open, client_id):
    # 61 distinct requests spread over many contracts, well within 10 simulated minutes at 60x
    async with PaperGateway(port=0, speed=60.0, start=session_open, pacing="strict") as gw, connect(gw, client_id) as ib:
        errors = collect_errors(ib)
        symbols = gw.symbols()
        t0 = gw.now()
        for k in range(61):
            end = PAST - timedelta(minutes=k)
            await ib.reqHistoricalDataAsync(Stock(symbols[k % len(symbols)], "SMART", "USD"), end, "60 S",
                                            "30 secs", "TRADES", False, 2)
        assert gw.now() - t0 < timedelta(minutes=10)
        assert codes(errors) == [162]


async def test_more_than_50_open_requests(session_open, client_id):
    async with PaperGateway(port=0, speed=60.0, start=session_open, pacing="strict") as gw, connect(gw, client_id) as ib:
        errors = collect_errors(ib)
        symbols = gw.symbols()
        subs = []
        for k in range(51):
            bars = await ib.reqHistoricalDataAsync(Stock(symbols[k % len(symbols)], "SMART", "USD"), "",
                                                   f"{60 * (k // len(symbols) + 1)} S", "30 secs", "TRADES",
                                                   False, 2, keepUpToDate=True)
            subs.append(bars)
        assert codes(errors) == [162]
        assert gw.pacing.open_requests == 50
        ib.cancelHistoricalData(subs[0])
        await ib.reqCurrentTimeAsync()
        assert gw.pacing.open_requests == 49


async def test_pacing_off_allows_everything(gateway, ib):
    errors = collect_errors(ib)
    for _ in range(8):
        bars = await ib.reqHistoricalDataAsync(AAPL, PAST, "600 S", "30 secs", "TRADES", False, 1)
        assert len(bars) == 20
    assert errors == []


async def test_minute_bars_have_no_hard_pacing_rule(session_open, client_id):
    """IB's three pacing rules are for bars of 30 seconds or less: eight identical minute-bar requests all answer;
    a BID_ASK request counts twice, so three small ones for a contract in 2 s already make six."""
    async with PaperGateway(port=0, speed=1.0, start=session_open, pacing="strict") as gw, connect(gw, client_id) as ib:
        errors = collect_errors(ib)
        answers = [await ib.reqHistoricalDataAsync(AAPL, PAST, "600 S", "1 min", "TRADES", False, 1)
                   for _ in range(8)]
        assert all(len(a) == 10 for a in answers) and codes(errors) == []
        for k in range(3):
            await ib.reqHistoricalDataAsync(AAPL, PAST, f"{60 * (k + 1)} S", "30 secs", "BID_ASK", False, 1)
        assert codes(errors) == [162]
