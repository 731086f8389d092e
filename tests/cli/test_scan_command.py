"""The CLI's ``scan`` command: a Console on a real IBClient and embedded gateway prints the scan's rows; bad
filters and scan codes are one ``error:`` line."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from breakout_kit.cli.commands import COMMAND_INDEX, Console
from breakout_kit.client.ib_client import IBClient
from breakout_kit.gateway import PaperGateway

pytestmark = pytest.mark.ib
START = datetime(2026, 11, 23, 10, 0, 5, tzinfo=ZoneInfo("America/New_York"))


async def test_scan_command_prints_ranked_rows_and_one_line_errors(client_id):
    async with (PaperGateway(port=0, seed=0, speed=60.0, start=START, pacing="off") as gw,
                IBClient(port=gw.port, client_id=client_id, clock_speed=60.0) as c):
        console = Console(c, out=lambda text: None)
        reply = await console.execute("scan most_active rows=4 price>20 volume>1000")
        lines = reply.text.splitlines()
        assert lines[0].split() == ["rank", "symbol"] and [ln.split()[0] for ln in lines[1:]] == ["0", "1", "2", "3"]
        expected = await c.scan("MOST_ACTIVE", 4, above_price=20, above_volume=1000)
        assert [ln.split()[1] for ln in lines[1:]] == list(expected["symbol"])
        for line, word in (("scan", "usage: scan CODE"), ("scan most_active price>>1", "must be a number"),
                           ("scan most_active size>3", "bad scan filter"), ("scan most_active rows=99", "rows"),
                           ("scan most_active colour=red", "unknown option colour="),
                           ("scan not_a_scan", "unknown scan code 'NOT_A_SCAN'")):
            reply = await console.execute(line)
            assert reply.text.startswith("error: ") and word in reply.text and "\n" not in reply.text, reply.text
    assert COMMAND_INDEX["scan"].handler == "cmd_scan"
