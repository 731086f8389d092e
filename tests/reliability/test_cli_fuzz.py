"""CLI command fuzzing against the REAL stack: hypothesis command lines go through the CLI's Console with a real
IBClient (trading on, paper account), real watchers, real brackets/cancels and real ingest on the embedded gateway.

tests/cli/test_commands.py fuzzes the parser/dispatcher with fakes (any text); this extends it to well-formed and
near-well-formed commands with real symbols and values, which reach the client, the gateway and the watchers.
Every reply is text, errors are exactly one line, the session and the connection survive everything, and nothing is
left running after each example. Default: 60 examples; ``--runslow``: 10 000 command lines.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakout_kit.cli.commands import Console, _default_ingest
from breakout_kit.client.ib_client import IBClient
from breakout_kit.gateway import PaperGateway

from .storm import SESSION_OPEN

pytestmark = pytest.mark.ib

SPEED = 600.0
SYMBOLS = ["AAPL", "MSFT", "SPY", "QQQ", "ZZZZQ", "aapl", "BRK.B", "X"]
NUMBERS = ["0", "1", "5", "10", "-1", "2.5", "99", "100", "1e9", "nan", "inf", "abc", ""]
OPTIONS = {
    "lookback": ["5", "20", "0", "-3", "x", "1000001"], "bar": ["1m", "5m", "30s", "1h", "7m", "1d", ""],
    "trigger": ["close", "high", "open"], "direction": ["up", "down", "both", "left"],
    "vol": ["0", "1.5", "-1", "inf"], "trade": NUMBERS, "tp": NUMBERS, "sl": NUMBERS, "limit": NUMBERS,
    "duration": ["600 S", "1 D", "2 D", "0 D", "5", "1 Y"], "color": ["red"],
}


@st.composite
def command_line(draw) -> str:
    word = draw(st.sampled_from(["breakout", "breakout", "buy", "buy", "stop", "cancel", "orders", "positions",
                                 "account", "watchers", "status", "ingest", "symbols", "help", "2", "menu"]))
    args = []
    if word in ("breakout", "2", "buy", "stop", "ingest", "symbols"):
        args.append(draw(st.sampled_from(SYMBOLS + ["all", "AAPL,MSFT"])))
    if word == "buy":
        args.append(draw(st.sampled_from(NUMBERS)))
    if word == "cancel":
        args.append(draw(st.sampled_from(["all", "1", "2", "7", "999", "-1", "x"])))
    keys = draw(st.lists(st.sampled_from(sorted(OPTIONS)), max_size=4, unique=True))
    args += [f"{k}={draw(st.sampled_from(OPTIONS[k]))}" for k in keys]
    return " ".join([word, *args])


LINES = st.lists(command_line(), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A private event loop with the gateway and one trading client, shared by every hypothesis example."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)             # ib_insync looks its loop up through the policy
    gw = PaperGateway(port=0, seed=0, speed=SPEED, start=SESSION_OPEN, pacing="strict")
    client = None
    try:
        loop.run_until_complete(gw.start())
        client = IBClient(port=gw.port, client_id=4242, trading=True, clock_speed=SPEED, timeout=5)
        loop.run_until_complete(client.connect())
        yield loop, gw, client, tmp_path_factory.mktemp("ingest"), {"lines": 0, "errors": 0}
    finally:
        if client is not None:
            loop.run_until_complete(client.disconnect())
        loop.run_until_complete(gw.stop())
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        loop.close()
        asyncio.set_event_loop(None)
        assert not pending, pending


def run_lines(stack, lines: list[str]) -> None:
    loop, _gw, client, dest, figures = stack

    async def into_tmp(client, symbols, duration, bar_size, _dest):    # whatever dest= says, stay in tmp
        return await _default_ingest(client, symbols, duration, bar_size, Path(dest))

    async def one() -> None:
        out: list[str] = []
        session = Console(client, out=out.append, trading=True, ingest_fn=into_tmp)
        try:
            for line in lines:
                reply = await asyncio.wait_for(session.execute(line), 30)     # never hangs
                figures["lines"] += 1
                assert isinstance(reply.text, str)
                if reply.text.startswith("error: "):
                    figures["errors"] += 1
                    assert "\n" not in reply.text and "Traceback" not in reply.text, reply.text
                else:
                    assert reply.text.strip(), f"no output for {line!r}"
            assert (await session.execute("status")).text
        finally:
            await session.aclose()
        assert not session.watchers and not session.tasks
        assert not [o for o in out if "Traceback" in o], out
        assert client.connected and client.reconnects == 0, f"{lines} cost the connection"

    loop.run_until_complete(one())


def _fuzz(stack, lines):
    try:
        run_lines(stack, lines)
    finally:
        with contextlib.suppress(Exception):          # leave no open orders for the next example to trip on
            stack[0].run_until_complete(stack[2].cancel_all_orders())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(LINES)
def test_real_stack_command_lines(stack, lines):
    _fuzz(stack, lines)


@pytest.mark.slow
@pytest.mark.timeout(900)          # ~45 lines/s: 10 k lines take about 4 minutes
@settings(max_examples=4200, deadline=None, suppress_health_check=list(HealthCheck))   # > 10 k lines
@given(LINES)
def test_real_stack_command_lines_long(stack, lines):
    _fuzz(stack, lines)
