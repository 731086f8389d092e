"""The one shape of the gateway's scheduler tasks (live data, the order book, the scanner).

Each gateway part that acts on simulated time runs ONE task on the gateway's loop. The task sleeps until the next
moment of the gateway clock it has work for, or until new work wakes it (a subscription, an order), whichever comes
first; with nothing to do it waits for work only. No polling.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server import PaperGateway


class ClockTask:
    """Lifecycle and waits of one scheduler task; a subclass writes ``_run`` and sets ``task_name``.

    The subclass sets ``self.gw`` (the gateway, for its clock).
    """

    task_name = "paper-gateway-task"
    gw: PaperGateway

    def __init__(self) -> None:
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None

    def start(self) -> None:
        """Start the task on the running loop (idempotent; restarts it if it ended)."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.task_name)

    def wake(self) -> None:
        """New work: re-plan now (starts the task if a loop runs; before that there is nothing to schedule)."""
        if self._task is None or self._task.done():
            try:
                self.start()
            except RuntimeError:
                return
        assert self._wake is not None
        self._wake.set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _idle(self) -> None:
        """Nothing scheduled: wait for new work only."""
        assert self._wake is not None
        self._wake.clear()
        await self._wake.wait()

    async def _wait_until(self, epoch: float) -> None:
        """Wait until the gateway clock reaches ``epoch`` or new work wakes the task (the caller cleared the wake
        flag before planning, so work that came while it planned is not slept through)."""
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        handle = loop.call_at(self.gw.clock.loop_time_at(epoch) + 1e-4, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            handle.cancel()

    async def _run(self) -> None:   # pragma: no cover - every subclass has its own
        raise NotImplementedError
