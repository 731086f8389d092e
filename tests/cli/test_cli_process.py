"""The CLI's own machinery as a real process, with the IB side faked (tests/cli/fake_cli.py):
stdin handling, EOF / quit / SIGTERM / SIGINT shutdown, the prompt_toolkit UI on a pseudo-terminal."""

from __future__ import annotations

import signal

from cli_proc import PipedCli, PtyCli

STARTED = r"^connected to .* account DU"


async def test_piped_session_quit():
    cli = await PipedCli.start(fake=True)
    await cli.expect(STARTED)
    await cli.send("breakout AAPL")
    await cli.expect(r"^watching AAPL")
    await cli.expect(r"^SIGNAL AAPL up \S+ price=\S+ level=\S+$")
    await cli.send("bogus command")
    await cli.expect(r"^error: unknown command 'bogus'")
    await cli.send("quit")
    code, _, err = await cli.finish()
    assert code == 0 and "Traceback" not in err and "pending" not in err, err
    assert cli.lines[-1] == "bye"
    assert not any(">" in line and "breakout>" in line for line in cli.lines)  # no prompt noise when piped


async def test_eof_exits_zero():
    cli = await PipedCli.start(fake=True)
    await cli.send("breakout MSFT")
    await cli.expect(r"^watching MSFT")
    await cli.close_stdin()
    code, _, err = await cli.finish()
    assert code == 0 and err == "", err


async def test_sigterm_while_waiting_for_input_exits_143():
    """stdin stays open (nothing typed): the reader thread is parked in read(); the process must not hang."""
    cli = await PipedCli.start(fake=True)
    await cli.send("breakout AAPL")
    await cli.expect(r"^SIGNAL AAPL")
    cli.signal(signal.SIGTERM)
    code, _, err = await cli.finish(timeout=10)
    assert code == 143 and err == "", err


async def test_sigint_while_waiting_for_input_exits_130_without_asking():
    """Piped stdin never prompts: SIGINT ends it at once, even with a watcher and a bracket working."""
    cli = await PipedCli.start("--trading", fake=True)
    await cli.expect(STARTED)
    await cli.send("breakout AAPL")
    await cli.send("buy AAPL 10 tp=2 sl=1")
    await cli.expect(r"^bracket AAPL x10")
    cli.signal(signal.SIGINT)
    code, _, err = await cli.finish(timeout=10)
    assert code == 130 and "KeyboardInterrupt" not in err and err == "", err
    assert "Ctrl-C again" not in "\n".join(cli.lines)


async def test_a_megabyte_line_is_refused_in_one_line_and_the_loop_goes_on():
    cli = await PipedCli.start(fake=True)
    await cli.expect(STARTED)
    await cli.send("breakout " + "'A" * 500_000)        # 1 MB of unbalanced quotes: ~24 s in shlex before
    line = await cli.expect(r"^error: line too long", timeout=10)
    assert line == "error: line too long (1000009 characters; the limit is 4096): nothing was run"
    await cli.send("breakout AAPL")
    await cli.expect(r"^watching AAPL", timeout=10)
    await cli.send("quit")
    code, _, err = await cli.finish()
    assert code == 0 and err == "", err


async def test_pty_prompt_stays_responsive_and_ctrl_c_works_like_a_shell():
    cli = await PtyCli.start("--trading", fake=True, FAKE_SIGNAL_EVERY="0.2")
    try:
        pos = await cli.expect(r"breakout>")
        cli.type("breakout AAPL\r")
        pos = await cli.expect(r"watching AAPL", pos)
        pos = await cli.expect(r"SIGNAL AAPL up .*level=\S+", pos)
        # Type half a command while signals keep arriving: signals print above, the typing survives the redraw.
        cli.type("stat")
        pos = await cli.expect(r"SIGNAL AAPL up", pos)
        pos = await cli.expect(r"SIGNAL AAPL up", pos)
        cli.type("us\r")
        pos = await cli.expect(r"symbol\s+state\s+last bar.*\n.*AAPL\s+live", pos)
        # Ctrl-C on a half-typed line clears it (nothing runs), as in a shell
        cli.type("cancel all")
        cli.type("\x03")
        cli.type("buy AAPL 10 tp=2 sl=1\r")
        pos = await cli.expect(r"bracket AAPL x10", pos)
        assert "cancelled" not in cli.text[pos:] and "error: unknown" not in cli.text
        # Ctrl-C at an empty prompt with a watcher and a bracket working: asks first
        cli.type("\x03")
        pos = await cli.expect(r"1 watcher stops; 1 bracket stays working at TWS; Ctrl-C again or `quit` to "
                               r"leave", pos)
        assert cli.proc.returncode is None
        cli.type("\x03")
        assert await cli.wait() == 130
        assert "Traceback" not in cli.text and "Task was destroyed" not in cli.text
    finally:
        await cli.close()


async def test_pty_ctrl_c_at_an_idle_empty_prompt_leaves_at_once():
    cli = await PtyCli.start(fake=True)
    try:
        await cli.expect(r"breakout>")
        cli.type("\x03")
        assert await cli.wait() == 130
        assert "Ctrl-C again" not in cli.text
    finally:
        await cli.close()


async def test_pty_pasted_huge_line_is_refused():
    cli = await PtyCli.start(fake=True)
    try:
        pos = await cli.expect(r"breakout>")
        await cli.paste("x" * 20_000)
        pos = await cli.expect(r"error: line too long \(20000 characters; the limit is 4096\)", pos)
        cli.type("quit\r")
        assert await cli.wait() == 0
    finally:
        await cli.close()


async def test_pty_sigint_signal_exits_130():
    cli = await PtyCli.start(fake=True)
    try:
        await cli.expect(r"breakout>")
        cli.proc.send_signal(signal.SIGINT)
        assert await cli.wait() == 130
        assert "Traceback" not in cli.text
    finally:
        await cli.close()


async def test_traceback_only_with_debug():
    for debug in (False, True):
        cli = await PipedCli.start(*(["--debug"] if debug else []), fake=True)
        await cli.send("breakout XXXX")
        await cli.expect(r"^error: unknown symbol XXXX$")
        await cli.close_stdin()
        code, _, err = await cli.finish()
        assert code == 0
        assert ("Traceback" in err) is debug, err


async def test_bad_flag_is_a_usage_error():
    cli = await PipedCli.start("--port", "notanumber", fake=True)
    code, _, err = await cli.finish()
    assert code == 2 and "invalid int value" in err and "Traceback" not in err
