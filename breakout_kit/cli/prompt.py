"""Reading command lines without ever blocking the event loop, in a terminal and from a pipe.

Two readers with one interface, ``await reader.readline() -> str | None`` (None = end of input), and ``close()``:

* ``TerminalReader`` (stdin is a TTY): prompt_toolkit's ``PromptSession.prompt_async`` runs on the loop itself, with
  history and tab completion. Used inside ``output_context()`` (prompt_toolkit's ``patch_stdout``), so lines printed
  while the user types (SIGNAL lines) appear above the prompt and the half-typed input is redrawn intact.
  Ctrl-C clears a half-typed line, as in a shell; at an empty prompt ``readline`` returns ``INTERRUPT`` (the command
  loop asks to confirm leaving when watchers or orders are working). Ctrl-D at an empty prompt means end of input.
* ``PipeReader`` (stdin is a pipe or file): no prompt is printed at all, so scripted sessions get clean output.

Why PipeReader uses its own daemon thread with ``os.read`` rather than ``asyncio.to_thread(input, ...)``:
``asyncio.run`` (3.9+) finishes with ``loop.shutdown_default_executor()``, which joins the default executor's threads.
A thread parked in ``input()`` waiting for a line that never comes would make Ctrl-C / SIGTERM / ``quit`` hang until
the user presses Enter. A daemon thread we create ourselves is never joined, and interpreter exit does not wait for
it. It reads the raw file descriptor (``os.read``) instead of ``sys.stdin``, so it never holds the buffered reader's
lock, which would otherwise abort the interpreter at shutdown ("could not acquire lock for <stdin>"). Lines reach the
loop through ``loop.call_soon_threadsafe`` onto an ``asyncio.Queue``; once the loop is closed the thread just ends.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Final, Protocol

from breakout_kit.cli.parsing import MAX_LINE, LineTooLong

PROMPT = "breakout> "


class _Interrupt(str):
    """Ctrl-C at an empty prompt (a distinct object, never equal in identity to a typed line)."""


INTERRUPT: Final = _Interrupt("")


class LineReader(Protocol):
    """Where command lines come from."""

    async def readline(self) -> str | None: ...

    def interrupt(self) -> bool:
        """SIGINT while ``readline`` waits: True when the reader took it, False to have the read cancelled."""
        ...

    def close(self) -> None: ...


class PipeReader:
    """Lines from a non-TTY file descriptor via a daemon thread; EOF (or a read error) yields None."""

    def __init__(self, fd: int | None = None) -> None:
        self._fd = sys.stdin.fileno() if fd is None else fd
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._eof = False
        self._thread = threading.Thread(target=self._pump, name="breakout-kit stdin", daemon=True)
        self._thread.start()

    def _deliver(self, item: str | None) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
            return True
        except RuntimeError:  # the loop is closed: nobody wants input any more
            return False

    def _pump(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending, dropped = "", 0   # memory stays bounded whatever arrives: an overlong line is only counted
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                tail = LineTooLong(pending, dropped) if dropped else pending + decoder.decode(b"", final=True)
                if tail and not self._deliver(tail):
                    return
                self._deliver(None)
                return
            text = decoder.decode(chunk)
            while text:
                head, newline, text = text.partition("\n")
                if dropped:             # inside an overlong line: count it, keep nothing
                    dropped += len(head)
                else:
                    pending += head
                    if len(pending) > MAX_LINE:
                        dropped, pending = len(pending), pending[:40]
                if not newline:
                    break
                line = LineTooLong(pending, dropped) if dropped else pending.rstrip("\r")
                pending, dropped = "", 0
                if not self._deliver(line):
                    return

    async def readline(self) -> str | None:
        if self._eof:
            return None
        line = await self._queue.get()
        if line is None:
            self._eof = True
        return line

    def interrupt(self) -> bool:
        return False  # no prompt holds typed text: cancelling the read loses nothing

    def close(self) -> None:
        """Nothing to join: the daemon thread ends at EOF or when the loop is gone."""
        self._eof = True


class TerminalReader:
    """prompt_toolkit prompt with in-memory history and completion of command words and symbols."""

    def __init__(self, words: Iterable[str], prompt: str = PROMPT, *, input=None, output=None) -> None:
        """``input``/``output``: prompt_toolkit's Input/Output (default: this terminal; tests pass a pipe)."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import WordCompleter
        from prompt_toolkit.history import InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings

        keys = KeyBindings()

        @keys.add("c-c")
        def _ctrl_c(event) -> None:
            """As in a shell: clear a half-typed line; at an empty prompt hand INTERRUPT to the command loop."""
            buffer = event.app.current_buffer
            if buffer.text:
                buffer.reset()
            else:
                event.app.exit(result=INTERRUPT)

        self._prompt = prompt
        self._session = PromptSession(history=InMemoryHistory(), key_bindings=keys, input=input, output=output,
                                      completer=WordCompleter(sorted(set(words)), ignore_case=True))
        # A huge paste never reaches the parser (or the renderer): past MAX_LINE the line is dropped and reported.
        self._session.default_buffer.on_text_changed += self._guard_length
        self._too_long = 0
        self._done = False
        self._pending_interrupt = False

    def _guard_length(self, buffer) -> None:
        if len(buffer.text) > MAX_LINE:
            self._too_long = len(buffer.text)
            buffer.reset()
            from prompt_toolkit.application import get_app

            app = get_app()
            if app.future is not None and not app.future.done():
                app.exit(result="")

    async def readline(self) -> str | None:
        if self._done:
            return None
        try:
            # handle_sigint=False: our own SIGINT/SIGTERM handlers stay installed (prompt_toolkit would remove
            # them after each prompt). In raw mode Ctrl-C arrives as a key and raises KeyboardInterrupt here.
            line = await self._session.prompt_async(self._prompt, handle_sigint=False,
                                                    set_exception_handler=False, pre_run=self._pre_run)
        except KeyboardInterrupt:  # not ours (c-c is bound above); treat it like Ctrl-C at an empty prompt
            return INTERRUPT
        except EOFError:
            self._done = True
            return None
        if self._too_long:
            length, self._too_long = self._too_long, 0
            return LineTooLong(line, length)
        return line

    def interrupt(self) -> bool:
        """SIGINT while this prompt is reading: the Ctrl-C reached the terminal while it was not in raw mode (the
        prompt was starting or ending), so the terminal turned it into a signal and discarded what was typed before
        it. Anything in the buffer now was typed *after* the Ctrl-C: keep it, as a shell keeps typeahead. With an
        empty buffer it is Ctrl-C at an empty prompt. Always taken (True): the read is never cancelled."""
        app = self._session.app
        if app.is_running and not app.is_done:
            if not app.current_buffer.text:
                app.exit(result=INTERRUPT)
        else:
            # The prompt is not up yet (or its line is already accepted): the next prompt starts by answering
            # INTERRUPT, before it takes the typeahead, which prompt_toolkit then keeps for the prompt after.
            # (Cancelling the read instead would lose whatever it reads before the cancellation lands.)
            self._pending_interrupt = True
        return True

    def _pre_run(self) -> None:
        if self._pending_interrupt:
            self._pending_interrupt = False
            self._session.app.exit(result=INTERRUPT)

    def close(self) -> None:
        self._done = True


def stdin_is_tty() -> bool:
    """True when both stdin and stdout are terminals (then the prompt_toolkit UI is used)."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def make_reader(words: Iterable[str], tty: bool | None = None) -> LineReader:
    """The right reader for this process's stdin (must be called on the running loop)."""
    if tty is None:
        tty = stdin_is_tty()
    return TerminalReader(words) if tty else PipeReader()


@contextlib.contextmanager
def output_context(tty: bool) -> Iterator[None]:
    """In a terminal, route stdout through prompt_toolkit so prints land above the prompt; else do nothing."""
    if not tty:
        yield
        return
    from prompt_toolkit.patch_stdout import patch_stdout

    with patch_stdout(raw=True):
        yield
