"""Helpers for the durability tests: the gateway as a process (``python -m breakout_kit.gateway``), as users run it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

START = "2026-11-23T09:30"       # tests/conftest.py SESSION_OPEN


class Gateway:
    """One gateway process; ``port`` once it listens."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port

    async def kill(self) -> str:
        """kill -9 (no goodbye, no final write); returns its stderr."""
        if self.proc.returncode is None:
            self.proc.kill()
        _, err = await asyncio.wait_for(self.proc.communicate(), 30)
        return err.decode(errors="replace")

    async def stop(self) -> str:
        """SIGTERM and wait: it must exit 0."""
        if self.proc.returncode is None:
            self.proc.terminate()
        _, err = await asyncio.wait_for(self.proc.communicate(), 30)
        assert self.proc.returncode == 0, err.decode(errors="replace")[-2000:]
        return err.decode(errors="replace")


async def start(state: Path, *args: str, speed: float = 60.0) -> Gateway:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--pacing", "off", "--speed", str(speed),
        "--state", str(state), *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    first = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    m = re.fullmatch(r"paper gateway listening on 127\.0\.0\.1:(\d+)\n", first)
    if m is None:
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        raise AssertionError(f"gateway did not start: {first!r} {err.decode(errors='replace')[-2000:]}")
    return Gateway(proc, int(m.group(1)))


async def refused(state: Path, *args: str) -> tuple[int, str]:
    """Start a gateway that must refuse: (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--state", str(state), *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert b"listening" not in out, out
    return proc.returncode, err.decode(errors="replace")


def files_of(state: Path) -> dict[str, bytes]:
    """Every file of the state (snapshot, journals, lock) by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(state.parent.iterdir()) if p.name.startswith(state.name)}


def mount_skip_reason() -> str | None:
    """Why this machine cannot mount a small tmpfs for a test (None: it can)."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    probe = Path("/tmp") / f"bk-mount-probe-{uuid.uuid4().hex}"
    probe.mkdir()
    try:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                          check=False, capture_output=True).returncode != 0:
            return "mount -t tmpfs is not permitted here"
        subprocess.run(["umount", str(probe)], check=True)
        return None
    except FileNotFoundError:
        return "no mount command"
    finally:
        probe.rmdir()


@contextlib.contextmanager
def tmpfs(where: Path, size: str, readonly: bool = False):
    """A tmpfs of ``size`` mounted on ``where`` (read-only when asked) for the duration."""
    where.mkdir(exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def remount_read_only(where: Path) -> None:
    os.sync()
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the filesystem is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
