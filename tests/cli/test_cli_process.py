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


async def test_sigterm_while_waiting_for_input_exits_zero():
    """stdin stays open (nothing typed): the reader thread is parked in read(); the process must not hang."""
    cli = await PipedCli.start(fake=True)
    await cli.send("breakout AAPL")
    await cli.expect(r"^SIGNAL AAPL")
    cli.signal(signal.SIGTERM)
    code, _, err = await cli.finish(timeout=10)
    assert code == 0 and err == "", err


async def test_sigint_while_waiting_for_input_exits_zero():
    cli = await PipedCli.start(fake=True)
    await cli.expect(STARTED)
    cli.signal(signal.SIGINT)
    code, _, err = await cli.finish(timeout=10)
    assert code == 0 and "KeyboardInterrupt" not in err and err == "", err


async def test_pty_prompt_stays_responsive_and_ctrl_c_exits():
    cli = await PtyCli.start(fake=True, FAKE_SIGNAL_EVERY="0.2")
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
        cli.type("\x03")  # Ctrl-C at the prompt
        assert await cli.wait() == 0
        assert "Traceback" not in cli.text and "Task was destroyed" not in cli.text
    finally:
        await cli.close()


async def test_pty_sigint_signal_exits():
    cli = await PtyCli.start(fake=True)
    try:
        await cli.expect(r"breakout>")
        cli.proc.send_signal(signal.SIGINT)
        assert await cli.wait() == 0
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
