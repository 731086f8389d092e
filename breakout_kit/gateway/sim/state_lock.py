"""One writer per state file: an OS lock (``fcntl.flock``) on ``FILE.lock`` beside the state file.

The lock file holds the owner's pid and port (the port once it listens), so a second gateway on the same file
refuses with one line naming both. The lock belongs to the open file: the OS drops it when the process ends, however
it ends (``kill -9`` included), so a stale lock file never blocks a restart. The file itself is left in place:
deleting it would let a third gateway lock a new file while the second still holds the old one.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from .state import StateError


def lock_path(state: Path) -> Path:
    return state.with_name(state.name + ".lock")


class StateLock:
    """Held from construction until ``release()``; raises StateError when another gateway holds it."""

    def __init__(self, state: str | os.PathLike) -> None:
        self._fd: int | None = None
        self.state = Path(state)
        self.path = lock_path(self.state)
        if not self.state.parent.is_dir():
            raise StateError(f"cannot keep the gateway state in {self.state}: folder {self.state.parent} does not "
                             "exist")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StateError(f"cannot keep the gateway state in {self.state}: cannot create its lock file "
                             f"{self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            raise StateError(f"state file {self.state} is in use by another paper gateway (pid "
                             f"{owner.get('pid', '?')}, port {owner.get('port') or '?'}): stop it or use another "
                             "--state file") from None
        except OSError as e:
            os.close(fd)
            raise StateError(f"cannot lock the gateway state file {self.state} ({self.path}): "
                             f"{e.strerror or e}") from None
        self._fd = fd
        self.note(None)

    def note(self, port: int | None) -> None:
        """Record this process (and its port, once known) in the lock file for a refused second gateway."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps({"pid": os.getpid(), "port": port}).encode(), 0)
        except OSError:
            pass          # informative only: the lock itself is what keeps a second writer out

    def release(self) -> None:
        """Let another gateway use the state file (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        # a gateway built but never started (or stopped) must not keep the file locked for the process's life
        self.release()


def _owner(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["StateLock", "lock_path"]
