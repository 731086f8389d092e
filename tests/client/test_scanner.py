"""IBClient's market scanner against the embedded gateway: one-off scans as DataFrames, a subscription that follows
TWS's refreshes and survives a reconnect, TWS's refusals as ScanError, bad arguments refused before sending."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from breakout_kit.client.ib_client import IBClient
from breakout_kit.client.scanner import COLUMNS, ScanError
from breakout_kit.gateway import PaperGateway

pytestmark = pytest.mark.ib
START = datetime(2026, 11, 23, 10, 0, 5, tzinfo=ZoneInfo("America/New_York"))
SPEED = 60.0


async def next_update(scan, timeout=120.0):
    return await asyncio.wait_for(scan.next_rows(), timeout)


async def test_scan_subscription_refreshes_and_survives_a_reconnect(client_id):
    async with (PaperGateway(port=0, seed=0, speed=SPEED, start=START, pacing="off") as gw,
                IBClient(port=gw.port, client_id=client_id, clock_speed=SPEED, reconnect_delays=(0.05,)) as c):
        active = await c.scan("most_active", rows=5)
        assert list(active.columns) == COLUMNS and active["rank"].tolist() == [0, 1, 2, 3, 4]
        # the same scan with limits is a subset ranked the same way: the filters apply before ranking
        limited = await c.scan("MOST_ACTIVE", rows=50, above_price=100.0, above_volume=1000)
        assert len(limited) == 50 and len(set(limited["symbol"])) == 50
        by_volume = list(limited["symbol"])
        assert [s for s in active["symbol"] if s in by_volume] == [s for s in by_volume if s in set(active["symbol"])]

        scan = c.subscribe_scan("MOST_ACTIVE", 3)
        first = await next_update(scan)
        second = await next_update(scan)             # TWS re-sends a subscribed scan about every 30 s
        assert len(first) == len(second) == 3 and scan.updates >= 2
        gw.faults.drop(client_id)
        await asyncio.wait_for(c.resubscribe_event, 30)      # reconnected: the scan is requested again
        again = await next_update(scan)
        assert scan.active and list(again.columns) == COLUMNS and len(again) == 3
        [(_, sub)] = gw.scanner.subs.items()                 # the old connection's scan died with it
        assert sub.session.client_id == client_id and not sub.session.closed
        scan.cancel()
        assert not scan.active

        with pytest.raises(ScanError, match="unknown scan code 'NO_SUCH_SCAN'"):
            await c.scan("NO_SUCH_SCAN")
        with pytest.raises(ScanError, match="unknown location"):
            await c.scan("MOST_ACTIVE", location="STK.MOON")


async def test_bad_scan_arguments_are_refused_before_sending():
    c = IBClient(port=1, client_id=1)          # never connected: checks come first
    for kwargs, err in (({"rows": 0}, ValueError), ({"rows": 51}, ValueError), ({"above_price": -1}, ValueError),
                        ({"above_price": "5"}, ValueError), ({"shoe_size": 3}, TypeError)):
        with pytest.raises(err):
            c.subscribe_scan("MOST_ACTIVE", **kwargs)
    with pytest.raises(ValueError, match="scan_code"):
        c.subscribe_scan("")
    with pytest.raises(ConnectionError):
        c.subscribe_scan("MOST_ACTIVE")
