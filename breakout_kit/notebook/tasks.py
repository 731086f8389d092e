"""Background tasks for widgets: strong references, and failures written to an Output widget, never swallowed."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Coroutine
from typing import Any


class TaskKeeper:
    """Creates tasks on the running loop, holds them until done and reports their exceptions to ``output``.

    The event loop keeps only weak references to tasks, and an exception in a button handler or background task
    is otherwise lost in a notebook; this writes it to the ``ipywidgets.Output`` instead.
    """

    def __init__(self, output):
        self.output = output
        self.tasks: set[asyncio.Task] = set()
        self.last: asyncio.Task | None = None

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task:
        """Schedule ``coro`` on the running loop (raises RuntimeError without one) and watch it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.watch(task)
        self.last = task
        return task

    def watch(self, task: asyncio.Future, what: str | None = None) -> asyncio.Future:
        """Hold ``task`` and report its failure (not its cancellation) to the output when it ends."""
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))
        return task

    def _done(self, task: asyncio.Future, what: str | None) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.report(exc, what or (task.get_name() if hasattr(task, "get_name") else None))

    def report(self, exc: BaseException, what: str | None = None) -> None:
        """Write one error to the output widget: one line for input errors, plus a short traceback otherwise."""
        head = f"{what}: " if what else ""
        text = f"{head}{type(exc).__name__}: {exc}\n"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=4))
        self.output.append_stderr(text)
        if exc.__traceback__ is not None and not isinstance(exc, (ValueError, TypeError)):
            self.output.append_stderr(tb)

    async def cancel_all(self) -> None:
        """Cancel whatever is still running and wait for it to finish."""
        pending = [t for t in self.tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
