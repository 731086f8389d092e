"""Run independent tasks in this process, on a local process pool, or on a Dask cluster, with one progress bar.

A task is ``(symbol, fn, args)``; ``fn(*args)`` runs where the task lands. A task that raises is reported by symbol
(the message) and the others still finish. Results come back in submission order, whatever order they finish in.

Interrupting (Ctrl-C, Jupyter's Interrupt, any exception while waiting) stops the work at once: on the pool the
pending tasks are cancelled and the worker processes terminated (a task in the middle of a symbol is abandoned,
nothing is half-written: tasks return results, they write nothing); on Dask every future is cancelled, so no
pending task starts (a task already running on a worker thread finishes there; its result is dropped).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["Task", "default_workers", "run_tasks"]

Task = tuple[str, Callable[..., Any], tuple]


def default_workers() -> int:
    """Cores this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _call(fn, args):
    try:
        return True, fn(*args)
    except Exception as e:  # noqa: BLE001 -- reported by symbol; the other tasks go on
        return False, f"{type(e).__name__}: {e}"


def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="task", disable=not progress)


def run_tasks(tasks: Sequence[Task], *, client=None, workers: int | None = None, progress: bool = True,
              desc: str = "sweep", shared: dict | None = None) -> list[tuple[bool, Any]]:
    """``[(ok, result or error message)]`` per task, in order.

    ``client``: a ``dask.distributed.Client`` (tasks run on its cluster). Otherwise a pool of ``workers`` processes
    (default: every core; 1 runs inline). ``shared`` maps a name to a large value several tasks use (a bar frame):
    an argument equal to ``Shared(name)`` is replaced by it where the task runs; on Dask it is scattered once.
    """
    if client is not None:
        return _run_dask(tasks, client, progress, desc, shared or {})
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    shared = shared or {}
    if workers == 1 or len(tasks) <= 1:
        out = []
        with _bar(len(tasks), desc, progress) as bar:
            for _symbol, fn, args in tasks:
                out.append(_call(fn, _resolve(args, shared)))
                bar.update(1)
        return out
    results: list = [None] * len(tasks)
    # forkserver: a clean, single-threaded parent for the workers (forking a Jupyter kernel with threads is unsafe)
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context)
    try:
        with _bar(len(tasks), desc, progress) as bar:
            futures = {pool.submit(_call, fn, _resolve(args, shared)): i for i, (_s, fn, args) in enumerate(tasks)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
    except BaseException as e:
        _stop(pool)
        if isinstance(e, BrokenProcessPool) and _unguarded_main():
            raise RuntimeError(MAIN_GUARD) from e
        raise
    pool.shutdown(wait=True)
    return results


MAIN_GUARD = ("the worker processes could not start: a script that runs sweep/walk_forward on several cores must "
              "call it under `if __name__ == \"__main__\":` (or pass workers=1)")


def _unguarded_main() -> bool:
    """True when __main__ is a script file (not a notebook or the REPL): the one case the guard is needed."""
    main = sys.modules.get("__main__")
    return bool(getattr(main, "__file__", None)) and "ipykernel" not in sys.modules


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (``shutdown`` alone would wait for running tasks)."""
    # the executor has no public "terminate"; its worker processes are in _processes (stable since 3.3), which
    # shutdown() clears: take them first
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.terminate()
    for p in processes:
        p.join(1.0)
        if p.is_alive():
            p.kill()
            p.join(1.0)


class Shared:
    """A placeholder argument: the value registered under ``name`` in ``run_tasks(shared=...)``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def _resolve(args: tuple, shared: dict) -> tuple:
    return tuple(shared[a.name] if isinstance(a, Shared) else a for a in args)


def _run_dask(tasks, client, progress, desc, shared) -> list[tuple[bool, Any]]:
    from distributed import as_completed as dask_completed

    scattered = client.scatter(shared, broadcast=False) if shared else {}
    if scattered:
        # a lost worker must not take the only copy of a symbol's bars with it: keep two (when there are two)
        workers = len(client.scheduler_info().get("workers", {}))
        if workers > 1:
            client.replicate(list(scattered.values()), n=2)
    futures = []
    for _symbol, fn, args in tasks:
        futures.append(client.submit(_call, fn, tuple(scattered[a.name] if isinstance(a, Shared) else a
                                                      for a in args), pure=False))
    index = {f.key: i for i, f in enumerate(futures)}
    results: list = [None] * len(futures)
    try:
        with _bar(len(futures), desc, progress) as bar:
            for future in dask_completed(futures):
                try:
                    results[index[future.key]] = future.result()
                except Exception as e:  # noqa: BLE001 -- a lost worker or an unpicklable result: report, go on
                    results[index[future.key]] = (False, f"{type(e).__name__}: {e}")
                bar.update(1)
    except BaseException:
        client.cancel(futures + list(scattered.values()), force=True)   # nothing pending starts after this
        raise
    return results
