"""Helpers to drive the CLI as a real subprocess (piped stdin) or under a pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import signal
import subprocess
import sys
import termios
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE_CLI = Path(__file__).with_name("fake_cli.py")
CONSOLE_SCRIPT = Path(sys.executable).with_name("breakout-kit")


def cli_argv(*args: str, fake: bool = False) -> list[str]:
    """The real console script (or python -m breakout_kit.cli if not installed), or the fake-IB harness."""
    if fake:
        return [sys.executable, str(FAKE_CLI), *args]
    if CONSOLE_SCRIPT.exists():
        return [str(CONSOLE_SCRIPT), *args]
    return [sys.executable, "-m", "breakout_kit.cli", *args]


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IB_")}
    env.update(PYTHONUNBUFFERED="1", PYTHONWARNINGS="error::ResourceWarning", **extra)
    return env


class PipedCli:
    """The CLI with piped stdin/stdout/stderr; stdout read line by line asynchronously."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, *args: str, fake: bool = False, **env: str) -> PipedCli:
        proc = await asyncio.create_subprocess_exec(*cli_argv(*args, fake=fake), stdin=subprocess.PIPE,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                    env=cli_env(**env), cwd=ROOT)
        return cls(proc)

    async def send(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def expect(self, pattern: str, timeout: float = 20.0) -> str:
        """Read stdout lines until one matches `pattern` (regex search); return it."""
        rx = re.compile(pattern)

        async def scan() -> str:
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    err = (await self.proc.stderr.read()).decode(errors="replace")
                    raise AssertionError(f"EOF before {pattern!r}; stdout={self.lines[-20:]} stderr={err[-2000:]}")
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if rx.search(line):
                    return line
        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got {self.lines[-20:]}") from None

    async def finish(self, timeout: float = 15.0) -> tuple[int, str, str]:
        """Wait for exit (bounded); return (code, rest of stdout, stderr). Kills it if it hangs."""
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"CLI did not exit within {timeout}s; stdout={self.lines[-20:]}") from None
        text = out.decode(errors="replace")
        self.lines += text.splitlines()
        return self.proc.returncode, text, err.decode(errors="replace")

    async def close_stdin(self) -> None:
        self.proc.stdin.close()
        await self.proc.stdin.wait_closed()

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)


def _claim_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, as a shell would. Then ^C typed while
    the prompt is not reading (cooked mode, between commands) becomes SIGINT like in a real terminal, instead
    of being dropped for want of a foreground process group."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyCli:
    """The CLI on a pseudo-terminal (so prompt_toolkit drives it); output collected through the master fd."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int):
        self.proc, self.master = proc, master
        self.buffer = b""
        self._data = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._on_readable)

    @classmethod
    async def start(cls, *args: str, fake: bool = False, **env: str) -> PtyCli:
        master, slave = pty.openpty()
        os.set_blocking(master, False)
        proc = await asyncio.create_subprocess_exec(
            *cli_argv(*args, fake=fake), stdin=slave, stdout=slave, stderr=slave,
            env=cli_env(TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="120", LINES="40", **env),
            cwd=ROOT, start_new_session=True, preexec_fn=_claim_terminal)
        os.close(slave)
        return cls(proc, master)

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self.master)
        self.buffer += chunk
        self._data.set()

    @property
    def text(self) -> str:
        """Output with ANSI escape sequences removed."""
        raw = self.buffer.decode(errors="replace")
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r", "", raw)

    async def expect(self, pattern: str, since: int = 0, timeout: float = 20.0) -> int:
        """Wait until `pattern` appears in the cleaned output after offset `since`; return the end offset."""
        rx = re.compile(pattern)

        async def scan() -> int:
            while True:
                m = rx.search(self.text, since)
                if m:
                    return m.end()
                self._data.clear()
                await self._data.wait()
        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {pattern!r} within {timeout}s; output tail={self.text[-1500:]!r}") from None

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def paste(self, text: str) -> None:
        """Send ``text`` as a terminal's bracketed paste, all of it (the pty takes a few KB per write)."""
        data = memoryview(b"\x1b[200~" + text.encode() + b"\x1b[201~")
        loop = asyncio.get_running_loop()
        while data:
            try:
                data = data[os.write(self.master, data):]
            except BlockingIOError:
                writable = loop.create_future()
                loop.add_writer(self.master, writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(self.master)

    async def wait(self, timeout: float = 15.0) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"CLI on the pty did not exit; tail={self.text[-1500:]!r}") from None

    async def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def piped_session(*args: str, **kw):
    """A piped CLI for one test: yields it; when the test body passes, ``quit`` must end it cleanly (exit 0, no
    traceback on stderr); whatever happens, the process does not outlive the test."""
    cli = await PipedCli.start(*args, **kw)
    try:
        yield cli
        await cli.send("quit")
        code, _, err = await cli.finish()
        assert code == 0 and "Traceback" not in err, err
    finally:
        if cli.proc.returncode is None:
            cli.proc.kill()
            await cli.proc.wait()
