"""Run independent tasks in this process, on a local process pool, or on a Dask cluster, with one progress bar.

A task is ``(symbol, fn, args)``; ``fn(*args)`` runs where the task lands. A task that raises is reported by symbol
(the message) and the others still finish. Results come back in submission order, whatever order they finish in.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool, \
            _bar(len(tasks), desc, progress) as bar:
        futures = {pool.submit(_call, fn, _resolve(args, shared)): i for i, (_s, fn, args) in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            bar.update(1)
    return results


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
    futures = []
    for _symbol, fn, args in tasks:
        futures.append(client.submit(_call, fn, tuple(scattered[a.name] if isinstance(a, Shared) else a
                                                      for a in args), pure=False))
    index = {f.key: i for i, f in enumerate(futures)}
    results: list = [None] * len(futures)
    with _bar(len(futures), desc, progress) as bar:
        for future in dask_completed(futures):
            try:
                results[index[future.key]] = future.result()
            except Exception as e:  # noqa: BLE001 -- a lost worker or an unpicklable result: report, go on
                results[index[future.key]] = (False, f"{type(e).__name__}: {e}")
            bar.update(1)
    return results
