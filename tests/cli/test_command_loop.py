"""The command loop's Ctrl-C handling in-process: a running command is interrupted (the loop goes on), Ctrl-C at an
empty prompt warns once while work is running, then leaves with 130."""

from __future__ import annotations

import asyncio

from breakout_kit.cli import EXIT_SIGINT, CommandLoop
from breakout_kit.cli.format import Reply
from breakout_kit.cli.prompt import INTERRUPT


class ScriptedReader:
    def __init__(self, lines):
        self.lines = list(lines)

    async def readline(self):
        return self.lines.pop(0) if self.lines else None

    def interrupt(self):
        return False

    def close(self):
        pass


class SlowSession:
    """`wait` hangs until cancelled; anything else echoes."""

    def __init__(self, warning=""):
        self.lines: list[str] = []
        self.started = asyncio.Event()
        self.warning = warning

    def out(self, text):
        self.lines.append(text)

    async def execute(self, line):
        if line == "wait":
            self.started.set()
            await asyncio.Event().wait()
        return Reply(f"ran {line}", quit=line == "quit")

    async def leave_warning(self):
        return self.warning


async def test_interrupt_cancels_the_running_command_and_the_loop_goes_on():
    session = SlowSession()
    loop = CommandLoop(session, ScriptedReader(["wait", "next", "quit"]))
    run = asyncio.ensure_future(loop.run())
    await session.started.wait()
    assert loop.interrupt() is True
    assert await run == 0
    assert session.lines == ["interrupted", "ran next", "ran quit"]


async def test_ctrl_c_at_empty_prompt_warns_once_then_leaves_130():
    session = SlowSession(warning="1 watcher stops; Ctrl-C again or `quit` to leave")
    code = await CommandLoop(session, ScriptedReader([INTERRUPT, "status", INTERRUPT, INTERRUPT])).run()
    assert code == EXIT_SIGINT == 130
    assert session.lines == [session.warning, "ran status", session.warning, "bye"]


async def test_ctrl_c_with_nothing_running_leaves_at_once():
    session = SlowSession()
    assert await CommandLoop(session, ScriptedReader([INTERRUPT, "never"])).run() == 130
    assert session.lines == ["bye"]


async def test_sigint_during_a_prompt_keeps_what_was_typed_after_it():
    """A Ctrl-C that reached the terminal between two prompts arrives as SIGINT while the next prompt already holds
    what was typed after it: that text survives (as a shell's typeahead); at an empty prompt it is Ctrl-C."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from breakout_kit.cli.prompt import TerminalReader

    with create_pipe_input() as pipe:
        reader = TerminalReader(["buy"], input=pipe, output=DummyOutput())
        typed = asyncio.Event()
        buffer = reader._session.default_buffer
        buffer.on_text_changed += lambda _b: typed.set() if _b.text == "buy AAPL 10" else None
        loop = CommandLoop(SlowSession(), reader)
        read = asyncio.ensure_future(loop._read())
        pipe.send_text("buy AAPL 10")
        await typed.wait()
        assert loop.interrupt() is True
        pipe.send_text("\r")
        assert await read == "buy AAPL 10"

        read = asyncio.ensure_future(loop._read())
        while not reader._session.app.is_running:   # the prompt is up once its app runs (a yield, not a wait)
            await asyncio.sleep(0)
        assert loop.interrupt() is True
        assert await read is INTERRUPT


async def test_sigint_before_the_prompt_is_up_answers_the_next_read_and_keeps_typeahead():
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from breakout_kit.cli.prompt import TerminalReader

    with create_pipe_input() as pipe:
        loop = CommandLoop(SlowSession(), TerminalReader(["status"], input=pipe, output=DummyOutput()))
        read = asyncio.ensure_future(loop._read())
        await asyncio.sleep(0)                       # the read is waiting; its prompt has not started yet
        assert loop.interrupt() is True
        pipe.send_text("status\r")                   # typed after the Ctrl-C
        assert await read is INTERRUPT
        assert await loop._read() == "status"
