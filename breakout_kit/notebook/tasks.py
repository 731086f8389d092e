"""Background tasks for widgets: strong references, and failures reported, never swallowed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class TaskKeeper:
    """Creates tasks on the running loop, holds them until done and reports their exceptions.

    The event loop keeps only weak references to tasks, and an exception in a button handler or background task
    is otherwise lost in a notebook; ``report(exc, what)`` is called for each failure instead (the panel passes its
    ErrorLog's ``report``). Use it on the loop's thread only.
    """

    def __init__(self, report: Callable[[BaseException, str | None], None]):
        self._report = report
        self.tasks: set[asyncio.Future] = set()
        self.last: asyncio.Task | None = None

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task:
        """Schedule ``coro`` on the running loop (raises RuntimeError without one) and watch it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.watch(task)
        self.last = task
        return task

    def watch(self, task: asyncio.Future, what: str | None = None) -> asyncio.Future:
        """Hold ``task`` and report its failure (not its cancellation) when it ends."""
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))
        return task

    def _done(self, task: asyncio.Future, what: str | None) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.report(exc, what or (task.get_name() if isinstance(task, asyncio.Task) else None))

    def report(self, exc: BaseException, what: str | None = None) -> None:
        """Report one error (handlers' own exceptions come here too)."""
        self._report(exc, what)

    async def cancel_all(self) -> None:
        """Cancel whatever is still running and wait for it to finish."""
        pending = [t for t in self.tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


class Pending:
    """Tasks started by widget handlers, with an event set whenever none is left.

    ``wait()`` returns once every one has ended *and* its done callbacks have run (a failure is reported by a done
    callback, one loop turn after the task ends). Awaiting the tasks themselves would not do: on 3.12+ a gather of
    finished tasks completes without yielding, so a loop over them would spin before the callbacks ever run.
    """

    def __init__(self) -> None:
        self.tasks: set[asyncio.Future] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, task: asyncio.Future) -> None:
        """Track ``task`` (add it after any other done callback that must run first, e.g. ``TaskKeeper.watch``)."""
        self.tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future) -> None:
        self.tasks.discard(task)
        if not self.tasks:
            self._idle.set()

    async def wait(self) -> None:
        while self.tasks:
            await self._idle.wait()
