"""Nothing typed can hold the event loop: an overlong line is refused before any parsing, on the real stdin reader."""

from __future__ import annotations

import asyncio
import os
import threading

from cli_fakes import FakeClient, FakeWatcher, fake_rule, fake_trade

from breakout_kit.cli.commands import MAX_LINE, Console
from breakout_kit.cli.parsing import LineTooLong, too_long
from breakout_kit.cli.prompt import PipeReader

# Seconds. Without the length check the megabyte line below stalled the loop ~24 s (in shlex); with it the stall is a
# few ms, but on a loaded 2-core machine the OS alone can pause the loop for tens of ms, so the bound leaves room.
STALL_BOUND = 0.2


class LoopLagProbe:
    """Ticks every millisecond on the loop and records the longest gap between ticks (loop time)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._task = self._loop.create_task(self._run())

    def _tick(self) -> None:
        now = self._loop.time()
        self.worst = max(self.worst, now - self._last - 0.001)
        self._last = now

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.001)
            self._tick()
            self.ticks += 1

    async def stop(self) -> float:
        self._tick()  # a stall right before stopping counts too
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.worst


def _write_in_thread(fd: int, data: bytes) -> threading.Thread:
    def write() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.close(fd)
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


async def test_megabyte_line_never_stalls_the_loop():
    rfd, wfd = os.pipe()
    reader = PipeReader(rfd)
    session = Console(FakeClient(), out=lambda _: None, watcher_factory=FakeWatcher, rule_factory=fake_rule,
                      trade_factory=fake_trade)
    probe = LoopLagProbe()
    writer = _write_in_thread(wfd, b"breakout " + b"'A" * 500_000 + b"\nbreakout AAPL\n")
    try:
        first = await reader.readline()
        reply = await session.execute(first)
        second = await reader.readline()
        watching = await session.execute(second)
    finally:
        worst = await probe.stop()
        writer.join(5)
        os.close(rfd)
        await session.aclose()
    assert isinstance(first, LineTooLong) and first.length == 1_000_009 and len(first) <= 40
    assert reply.text == f"error: line too long (1000009 characters; the limit is {MAX_LINE}): nothing was run"
    assert watching.text.startswith("watching AAPL")
    assert worst < STALL_BOUND, f"the loop stalled {worst * 1000:.1f} ms"


async def test_a_line_at_the_limit_still_runs_and_one_over_is_refused():
    session = Console(FakeClient(), out=lambda _: None, watcher_factory=FakeWatcher, rule_factory=fake_rule,
                      trade_factory=fake_trade)
    at_limit = "help" + " " * (MAX_LINE - 4)
    assert too_long(at_limit) == 0 and (await session.execute(at_limit)).text.startswith("commands")
    over = at_limit + " "
    assert (await session.execute(over)).text.startswith(f"error: line too long ({MAX_LINE + 1} characters")
