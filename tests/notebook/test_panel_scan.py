"""The panel's "Top 10 gainers" control (``panel.watch_scan``) against the real stack: a watcher per scan row, the
scan's watchers follow its refreshes, hand-started ones are left alone, scan errors reach the panel's error log."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

START = datetime(2026, 11, 23, 10, 0, 5, tzinfo=ZoneInfo("America/New_York"))


# the session's first scan builds every instrument's day (seconds alone, minutes beside two CPU hogs): each wait
# below is bounded, the test's timeout only bounds a hang
@pytest.mark.timeout(600)
async def test_watch_scan_keeps_watchers_on_the_scan_rows(monkeypatch, client_id):
    from breakout_kit.notebook import ControlPanel, connect, disconnect

    monkeypatch.delenv("IB_PORT", raising=False)
    # speed 1: the next real refresh is 30 s away, so the refresh simulated below is the only one
    client = await connect(client_id=client_id, speed=1, seed=0, start=START, pacing="off")
    try:
        panel = ControlPanel(client, show_charts=False)
        panel.start("MSFT")                                     # by hand: the scan must not stop it
        scan = panel.watch_scan("MOST_ACTIVE", 3)
        rows = await asyncio.wait_for(scan.next_rows(), 120)
        top = list(rows["symbol"])
        assert len(top) == 3 and set(top) <= set(panel.watchers)
        # a refresh with other rows: the scan's watchers for symbols that left stop, new ones start
        scan.update_event.emit(rows.iloc[::-1].assign(symbol=["AAPL", top[0], "MSFT"]))
        assert panel.watchers["AAPL"].state not in ("stopped", "failed")
        for gone in set(top) - {top[0], "MSFT"}:
            await asyncio.wait_for(panel.watchers[gone], 30)
            assert panel.watchers[gone].state == "stopped"
        assert panel.watchers["MSFT"].state not in ("stopped", "failed")
        panel.stop_scan()
        assert panel.scan is None and not scan.active

        panel.watch_scan("NOT_A_SCAN", 3)
        with pytest.raises(Exception, match="NOT_A_SCAN"):
            await asyncio.wait_for(panel.scan.next_rows(), 30)
        assert "NOT_A_SCAN" in panel.errors.text()
        panel.scan_button.click()                               # the button: top 10 % gainers
        await panel.settle()
        assert panel.scan.subscription.scanCode == "TOP_PERC_GAIN" and panel.scan.subscription.numberOfRows == 10
        await panel.aclose()
        assert panel.scan is None and all(w.state == "stopped" for w in panel.watchers.values())
    finally:
        await disconnect(client)
