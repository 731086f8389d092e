"""Interrupt means stop: Ctrl-C / Jupyter's Interrupt during a sweep ends it at once on the pool and on Dask."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from breakout_kit.research.executor import run_tasks


def _slow(started, folder: str, seconds: float) -> str:
    """A long task: says it started (an event and a file named by its pid), then works for ``seconds``."""
    Path(folder, f"{os.getpid()}-{time.perf_counter_ns()}").touch()
    started.set()
    time.sleep(seconds)               # the task's work
    return "done"


def _interrupt_after(event_wait) -> list[float]:
    """SIGINT to this process (what Ctrl-C and Jupyter's Interrupt send) once ``event_wait()`` returns."""
    when: list[float] = []

    def run():
        event_wait()
        when.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=run, daemon=True).start()
    return when


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_interrupt_stops_the_process_pool_at_once(tmp_path):
    with multiprocessing.Manager() as manager:
        started = manager.Event()
        tasks = [(f"S{i}", _slow, (started, str(tmp_path), 60.0)) for i in range(8)]
        when = _interrupt_after(lambda: started.wait(120))
        with pytest.raises(KeyboardInterrupt):
            run_tasks(tasks, workers=2, progress=False)
        stopped = time.monotonic()
    assert stopped - when[0] < 3.0                  # not after the 60 s tasks (it took 17.7 s before)
    ran = [int(p.name.split("-")[0]) for p in tmp_path.iterdir()]
    assert 1 <= len(ran) <= 2                       # only what was running; nothing pending started
    assert not any(_alive(pid) for pid in ran)      # the workers are gone


def _slow_on_dask(folder: str, seconds: float) -> str:
    from distributed import Event

    Path(folder, f"{os.getpid()}-{time.perf_counter_ns()}").touch()
    Event("bk-test-started").set()
    time.sleep(seconds)
    return "done"


async def _forgotten(dask_scheduler) -> bool:
    import asyncio

    while dask_scheduler.tasks:          # the cancel reaches the scheduler as a message: wait for it there
        await asyncio.sleep(0.01)
    return True


@pytest.mark.timeout(120)
def test_interrupt_cancels_everything_on_dask(tmp_path):
    from distributed import Client, Event, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        tasks = [(f"S{i}", _slow_on_dask, (str(tmp_path), 2.0)) for i in range(6)]
        when = _interrupt_after(lambda: Event("bk-test-started", client=client).wait(60))
        with pytest.raises(KeyboardInterrupt):
            run_tasks(tasks, client=client, progress=False)
        stopped = time.monotonic()
        assert stopped - when[0] < 3.0
        # the scheduler forgets every task (it handles the cancel a moment later): nothing pending can start
        assert client.run_on_scheduler(_forgotten) is True
    assert len(list(tmp_path.iterdir())) == 1       # the one that was running when Ctrl-C came


def test_a_script_without_the_main_guard_gets_one_line(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text("from breakout_kit.research.executor import run_tasks\n"
                      "print(run_tasks([('A', abs, (-1,)), ('B', abs, (-2,))], workers=2, progress=False))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          check=False, cwd=tmp_path)
    # forkserver re-imports the script in each worker; without the guard the workers fail to start
    if done.returncode == 0:
        assert "(True, 1)" in done.stdout          # this platform starts workers without re-running the script
    else:
        ours = [line for line in done.stderr.splitlines() if line.startswith("RuntimeError: ")]
        assert ours and "if __name__ == \"__main__\":" in ours[-1], done.stderr[-2000:]
