"""The NYSE calendar in the gateway, through the real client: no bars on Thanksgiving (2026-11-26), the early close
on 2026-11-27 ends regular hours at 13:00 (and the extended session at 17:00), contract hours say so, and the
default start skips holidays."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from breakout_kit.client.iblib import Stock
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.sim.clock import default_start

from .conftest import connect

pytestmark = pytest.mark.ib
NY = ZoneInfo("America/New_York")
AAPL = Stock("AAPL", "SMART", "USD")
AFTER_THANKSGIVING = datetime(2026, 11, 30, 9, 30, tzinfo=NY)     # the Monday after


@pytest.fixture
async def ib_after(client_id):
    async with PaperGateway(port=0, speed=60.0, start=AFTER_THANKSGIVING, pacing="off") as gw, \
            connect(gw, client_id) as ib:
        yield ib


async def test_no_daily_bar_on_thanksgiving(ib_after):
    days = await ib_after.reqHistoricalDataAsync(AAPL, AFTER_THANKSGIVING, "5 D", "1 day", "TRADES", True, 1)
    # five sessions back from Monday's open: Thanksgiving is not one
    assert [b.date for b in days] == [date(2026, 11, 20), date(2026, 11, 23), date(2026, 11, 24),
                                      date(2026, 11, 25), date(2026, 11, 27)]


async def test_no_intraday_bars_on_the_holiday(ib_after):
    end = datetime(2026, 11, 27, 0, 0, tzinfo=NY)
    bars = await ib_after.reqHistoricalDataAsync(AAPL, end, "86400 S", "1 hour", "TRADES", False, 2)
    assert list(bars) == []


async def test_early_close_ends_at_13(ib_after):
    end = datetime(2026, 11, 28, 0, 0, tzinfo=NY)
    rth = await ib_after.reqHistoricalDataAsync(AAPL, end, "1 D", "1 min", "TRADES", True, 2)
    assert rth[0].date.astimezone(NY).time().isoformat() == "09:30:00"
    assert rth[-1].date.astimezone(NY).time().isoformat() == "12:59:00" and len(rth) == 210
    full = await ib_after.reqHistoricalDataAsync(AAPL, end, "1 D", "1 hour", "TRADES", False, 2)
    assert full[-1].date.astimezone(NY).hour == 16                 # the extended session ends at 17:00
    day = await ib_after.reqHistoricalDataAsync(AAPL, end, "1 D", "1 day", "TRADES", True, 2)
    assert day[0].date == date(2026, 11, 27) and day[0].close == rth[-1].close
    assert day[0].volume == sum(b.volume for b in rth)


async def test_contract_hours_follow_the_calendar(ib):
    [d] = await ib.reqContractDetailsAsync(AAPL)                    # the gateway's week starts 2026-11-23
    liquid = dict(s.split(":", 1) for s in d.liquidHours.split(";"))
    assert liquid["20261126"] == "CLOSED"
    assert liquid["20261127"] == "0930-20261127:1300"
    assert liquid["20261125"] == "0930-20261125:1600"
    assert "20261127:0400-20261127:1700" in d.tradingHours


def test_default_start_skips_holidays():
    thanksgiving_noon = datetime(2026, 11, 26, 17, 0, tzinfo=timezone.utc)
    assert default_start(thanksgiving_noon) == datetime(2026, 11, 25, 9, 30, tzinfo=NY)
    assert default_start(thanksgiving_noon + timedelta(days=1)).date() == date(2026, 11, 27)
