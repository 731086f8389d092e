"""Shutdown: every entry point leaves no pending task, open socket or extra thread, with warnings as errors.

In-process: ``async with`` gateway + client, watchers, a running fault script and the notebook ControlPanel.
As a process: the real CLI on its embedded gateway under ``python -X dev`` (asyncio debug, ResourceWarnings shown)
ending by ``quit``, EOF, SIGINT and SIGTERM with watchers running.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

import psutil
import pytest

from breakout_kit.client.ib_client import IBClient
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.faults import FaultPlan
from breakout_kit.watch.watcher import BreakoutWatcher

from .storm import SESSION_OPEN, until

pytestmark = pytest.mark.ib

ROOT = Path(__file__).resolve().parents[2]
NOISE = ("Task was destroyed", "ResourceWarning", "unclosed", "Traceback", "never awaited", "Exception ignored",
         "was never retrieved")


def sockets() -> int:
    return len(psutil.Process().net_connections(kind="inet"))


async def test_async_with_exit_leaves_nothing_behind(client_id):
    gc.collect()
    tasks, threads, socks = len(asyncio.all_tasks()), threading.active_count(), sockets()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with (PaperGateway(port=0, speed=600.0, start=SESSION_OPEN, pacing="off") as gw,
                    IBClient(port=gw.port, client_id=client_id, clock_speed=600.0, reconnect_delays=(0.05,)) as c):
            watchers = [BreakoutWatcher(c, s) for s in ("AAPL", "SPY", "QQQ")]
            for w in watchers:
                w.start()
            for w in watchers:
                await until(w.bar_event, lambda w=w: w.state == "live")
            gw.faults.script(FaultPlan(3, 50, kinds=["drop", "lost_data"], gap=(0.05, 0.1)))   # still running
            await until(c.resubscribe_event, lambda: c.reconnects >= 1, what="a fault hit")
            for w in watchers:
                await w.aclose()
        gc.collect()
    assert len(asyncio.all_tasks()) == tasks, asyncio.all_tasks()
    assert threading.active_count() == threads
    assert sockets() == socks
    assert not caught, [str(w.message) for w in caught]


async def test_notebook_panel_aclose_leaves_nothing_behind(client_id):
    import ipywidgets  # noqa: F401  (a base dependency: its absence is a failure, not a skip)

    from breakout_kit.notebook.panel import ControlPanel

    gc.collect()
    tasks, socks = len(asyncio.all_tasks()), sockets()
    async with (PaperGateway(port=0, speed=600.0, start=SESSION_OPEN, pacing="off") as gw,
                IBClient(port=gw.port, client_id=client_id, clock_speed=600.0) as c):
        panel = ControlPanel(c, show_charts=False)
        for symbol in ("AAPL", "MSFT"):
            panel.start(symbol)
        watchers = list(panel.watchers.values())
        assert len(watchers) == 2
        for w in watchers:
            await until(w.bar_event, lambda w=w: w.state == "live")
        await panel.aclose()
        assert all(w.state == "stopped" for w in watchers)
    gc.collect()
    assert len(asyncio.all_tasks()) == tasks, asyncio.all_tasks()
    assert sockets() == socks


class Cli:
    """The real CLI (embedded gateway) as a child process with piped stdin, under -X dev."""

    def __init__(self, proc):
        self.proc = proc

    @classmethod
    async def start(cls) -> Cli:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IB_")}
        env.update(PYTHONUNBUFFERED="1", PYTHONWARNINGS="error::ResourceWarning")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "dev", "-m", "breakout_kit.cli", "--speed", "600", "--start", "2026-11-23T09:30",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, cwd=ROOT)
        return cls(proc)

    async def expect(self, prefix: str, timeout: float = 30.0) -> str:
        async def scan():
            while line := await self.proc.stdout.readline():
                if line.decode().startswith(prefix):
                    return line.decode()
            raise AssertionError(f"CLI ended before printing {prefix!r}")
        return await asyncio.wait_for(scan(), timeout)

    async def send(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        _out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        return self.proc.returncode, err.decode()


@pytest.mark.parametrize("ending, exit_code", [("quit", 0), ("eof", 0), ("sigint", 130), ("sigterm", 143)])
async def test_cli_endings_exit_cleanly_with_nothing_pending(ending, exit_code):
    """quit/EOF exit 0; a signal exits like a shell's child (128 + signal number); nothing left pending either way."""
    cli = await Cli.start()
    try:
        await cli.expect("connected to ")
        await cli.send("breakout AAPL")
        await cli.send("breakout SPY lookback=5")
        await cli.expect("watching SPY")
        if ending == "quit":
            await cli.send("quit")
        elif ending == "eof":
            cli.proc.stdin.close()
        else:
            cli.proc.send_signal(signal.SIGINT if ending == "sigint" else signal.SIGTERM)
        code, err = await cli.finish()
    finally:
        if cli.proc.returncode is None:
            cli.proc.kill()
            await cli.proc.wait()
    assert code == exit_code, err[-2000:]
    noise = [line for line in err.splitlines() if any(n in line for n in NOISE)]
    assert not noise, err[-3000:]
