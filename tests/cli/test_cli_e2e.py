"""The real console script against the real embedded gateway, IBClient and watchers (piped stdin)."""

from __future__ import annotations

import re
import signal
import time

from cli_proc import PipedCli, PtyCli, piped_session

START = "2026-11-23T09:30:00-05:00"  # tests/conftest.py SESSION_OPEN
FAST = ("--sim", "--speed", "600", "--start", START)




async def _retry(cli: PipedCli, command: str, pattern: str, attempts: int = 20) -> str:
    """Re-issue a query command until its answer matches (each round trip awaits the gateway, no sleeps)."""
    for _ in range(attempts):
        await cli.send(command)
        await cli.send("help")  # a marker: everything before the menu header is `command`'s answer
        start = len(cli.lines)
        await cli.expect(r"^commands \(type the name")
        answer = "\n".join(cli.lines[start:-1])
        if re.search(pattern, answer, re.MULTILINE):
            return answer
    raise AssertionError(f"{command!r} never matched {pattern!r}; last answer:\n{answer}")


async def test_watch_signal_status_positions_quit():
    """The headline session: a watcher sees the gateway's planted breakout; queries answer; quit exits 0 fast."""
    t0 = time.monotonic()
    cli = await PipedCli.start(*FAST)
    try:
        await cli.expect(r"^using embedded paper gateway on 127\.0\.0\.1:\d+ .*set IB_PORT")
        await cli.expect(r"^connected to 127\.0\.0\.1:\d+ .*account DU\*\*\*\d{4} \(paper\), read-only")
        startup = time.monotonic() - t0
        await cli.send("breakout AAPL lookback=20 bar=1m")
        await cli.expect(r"^watching AAPL: 20-bar close breakout up on 1 min bars")
        t1 = time.monotonic()
        sig = await cli.expect(r"^SIGNAL AAPL up ", timeout=60)
        m = re.fullmatch(r"SIGNAL AAPL up (\S+) price=(\S+) level=(\S+)", sig)
        assert m and float(m.group(2)) > float(m.group(3)), sig  # an up breakout closes above the channel
        # Backfilled history is not announced: the first SIGNAL is a live bar, after the simulated start.
        assert m.group(1) > START, sig
        first_signal = time.monotonic() - t1
        await cli.send("status")
        row = await cli.expect(r"^AAPL\s+live\s")
        assert int(row.split()[4]) >= 1, row  # the live signal is counted (columns: symbol state bar price signals)
        await cli.send("positions")
        await cli.expect(r"^no positions$")
        await cli.send("account")
        await cli.expect(r"NetLiquidation")
        await cli.send("quit")
        t2 = time.monotonic()
        code, _, err = await cli.finish()
        exit_time = time.monotonic() - t2
        assert code == 0, err
        assert "Traceback" not in err and "was destroyed" not in err and "never awaited" not in err, err
        assert exit_time < 5, f"quit took {exit_time:.1f}s"
        print(f"startup to prompt {startup:.2f}s, first SIGNAL {first_signal:.2f}s, exit {exit_time:.2f}s")
    finally:
        if cli.proc.returncode is None:
            cli.proc.kill()
            await cli.proc.wait()


async def test_bracket_place_cancel_fill_positions():
    async with piped_session(*FAST, "--trading") as cli:
        await cli.expect(r"^connected to .*account DU\*\*\*\d{4} \(paper\), trading enabled")
        await cli.send("breakout AAPL")
        sig = await cli.expect(r"^SIGNAL AAPL up ", timeout=60)
        price = float(re.search(r"price=(\S+)", sig).group(1))

        # A limit bracket far below the market stays open; cancel it through its parent.
        await cli.send(f"buy AAPL 10 tp=2 sl=1 limit={round(price * 0.8, 2)}")
        await cli.expect(r"^warning: limit \S+ is 2\d\.\d% below the last price \S+ \(more than 10%\): nothing sent "
                         r"\(add force=1 to place it anyway\)$")
        await cli.send(f"buy AAPL 10 tp=2 sl=1 limit={round(price * 0.8, 2)} force=1")
        line = await cli.expect(r"^(bracket|error)")
        b = re.fullmatch(r"bracket AAPL x10: parent #(\d+) BUY LMT \S+, take-profit #(\d+) SELL LMT \S+, "
                         r"stop-loss #(\d+) SELL STP \S+", line)
        assert b, line
        parent = b.group(1)
        await _retry(cli, "orders", rf"^\s*{parent}\s+AAPL\s+BUY\s+LMT")
        await cli.send(f"cancel {parent}")
        await cli.expect(rf"^order #{parent}: (Api)?Cancelled$")
        await _retry(cli, "orders", r"^no open orders$")

        # A market bracket fills into a position.
        await cli.send("buy AAPL 5 tp=5 sl=5")
        await cli.expect(r"^bracket AAPL x5: parent #\d+ BUY MKT")
        await _retry(cli, "positions", r"^\s*AAPL\s+5\s")
        await cli.send("cancel all")
        await cli.expect(r"^cancelled \d+ open order\(s\)$")


async def test_bad_inputs_against_real_client():
    cli = await PipedCli.start(*FAST)
    for line, pattern in [("breakout NOSUCH", r"^error: .*NOSUCH"),
                          ("buy AAPL 10 tp=1 sl=1", r"^error: trading is disabled"),
                          ("breakout AAPL bar=7m", r"^error: bar size '7m' is not an IB bar size; use one of 1s, 5s"),
                          ("cancel 99999", r"^error: trading is disabled")]:
        await cli.send(line)
        await cli.expect(pattern)
    await cli.close_stdin()  # EOF = quit
    code, _, err = await cli.finish()
    assert code == 0 and "Traceback" not in err, err


async def test_sigterm_with_watchers_running_exits_143():
    cli = await PipedCli.start(*FAST)
    await cli.send("breakout AAPL")
    await cli.send("breakout MSFT direction=both trigger=high")
    await cli.expect(r"^watching MSFT")
    await cli.send("status")
    await cli.expect(r"^MSFT\s")
    cli.signal(signal.SIGTERM)
    t0 = time.monotonic()
    code, _, err = await cli.finish()
    assert code == 143, err
    assert err.strip() == "", err  # no pending-task / unclosed-transport warnings
    assert time.monotonic() - t0 < 5


async def test_demo_runs_and_summarizes(tmp_path):
    html = tmp_path / "demo.html"
    cli = await PipedCli.start("demo", "--symbols", "AAPL,MSFT", "--minutes", "35", "--speed", "600",
                               "--start", START, "--html", str(html))
    t0 = time.monotonic()
    code, _, err = await cli.finish(timeout=90)
    elapsed = time.monotonic() - t0
    assert code == 0, err
    lines = cli.lines
    signals = [ln for ln in lines if ln.startswith("SIGNAL ")]
    assert {ln.split()[1] for ln in signals} == {"AAPL", "MSFT"}, lines  # planted breakouts on both
    total = next(ln for ln in lines if ln.startswith("TOTAL")).split()
    _, _bars, n_signals, brackets, orders, *_ = total  # TOTAL bars signals brackets orders filled fills position
    assert int(n_signals) == len(signals)
    assert int(brackets) >= 1 and int(orders) >= 3 * int(brackets)  # a bracket (3 orders) placed on a signal
    assert any(ln.startswith("FILL ") for ln in lines)  # market entries fill on the paper account
    assert html.exists() and html.stat().st_size > 100_000
    assert elapsed < 60


async def test_pty_prompt_responsive_with_real_watchers_and_ctrl_c():
    """On a terminal, with real watchers streaming at 600x, each command still answers promptly; Ctrl-C asks first
    (watchers are running), a second one exits 130."""
    cli = await PtyCli.start(*FAST)
    try:
        pos = await cli.expect(r"breakout>", timeout=30)
        for sym in ("AAPL", "MSFT", "NVDA", "SPY"):
            cli.type(f"breakout {sym}\r")
            pos = await cli.expect(rf"watching {sym}:", pos)
        worst = 0.0
        for _ in range(5):
            t0 = time.monotonic()
            cli.type("status\r")
            pos = await cli.expect(r"symbol\s+state\s+last bar[^\n]*\n(.*\n){3}.*SPY\s+\w+", pos, timeout=10)
            worst = max(worst, time.monotonic() - t0)
        assert worst < 1.0, f"status took {worst:.2f}s while watchers ran"
        pos = await cli.expect(r"SIGNAL [A-Z]+ up \S+ price=\S+ level=\S+", pos, timeout=60)
        cli.type("\x03")  # Ctrl-C at the prompt
        pos = await cli.expect(r"4 watchers stop; Ctrl-C again or `quit` to leave", pos)
        cli.type("\x03")
        t0 = time.monotonic()
        assert await cli.wait(timeout=10) == 130
        assert time.monotonic() - t0 < 5
        assert "Traceback" not in cli.text and "Task was destroyed" not in cli.text
    finally:
        await cli.close()


async def test_connected_line_names_server_version_and_tws_time_in_new_york():
    cli = await PipedCli.start(*FAST)
    line = await cli.expect(r"^connected to ")
    assert re.search(r"; server version 1\d\d, TWS time 2026-11-23 09:3\d:\d\d New York \(all times are New York "
                     r"time\)$", line), line
    await cli.close_stdin()
    code, _, err = await cli.finish()
    assert code == 0 and err == "", err


async def test_silent_port_fails_fast_naming_the_tws_setting():
    """A port that accepts and never speaks (here: a bare TCP server, like an HTTP server or a TWS with the API off)."""
    import asyncio

    held = []
    server = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cli = await PipedCli.start("--port", str(port))
        code, out, err = await cli.finish(timeout=20)
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()
    assert code == 1 and out == ""
    assert err.startswith(f"error: 127.0.0.1:{port} accepted the connection but did not answer the TWS API handshake "
                          f"within 3 s: is it the API port of TWS / IB Gateway? In TWS check Global Configuration > "
                          f"API > Settings: 'Enable ActiveX and Socket Clients'"), err
    assert err.count("\n") == 1


async def test_duplicate_client_id_fails_at_once_with_the_id_to_try():
    from breakout_kit.gateway import PaperGateway

    async with PaperGateway(port=0, start=START) as gw:
        first = await PipedCli.start("--port", str(gw.port), "--client-id", "7")
        await first.expect(r"^connected to .* as client 7,")
        second = await PipedCli.start("--port", str(gw.port), "--client-id", "7")
        code, _, err = await second.finish(timeout=20)
        assert code == 1   # at once: tests/client/test_ib_client.py bounds it far below the connect timeout
        assert err.startswith("error: clientId 7 is already in use on 127.0.0.1:") and "--client-id 8" in err, err
        await first.close_stdin()
        assert (await first.finish())[0] == 0


async def test_sell_flatten_and_pnl_against_the_paper_gateway():
    async with piped_session(*FAST, "--trading") as cli:
        await cli.expect(r"^connected to ")
        await cli.send("sell AAPL 5")
        await cli.expect(r"^error: you hold no AAPL to sell: sell only closes a long position \(add short=1")
        await cli.send("buy AAPL 10 tp=5 sl=5")
        await cli.expect(r"^bracket AAPL x10: parent #\d+ BUY MKT")
        await _retry(cli, "positions", r"^\s*AAPL\s+10\s")
        await cli.send("sell AAPL 5")   # the bracket's exits already cover the 10 shares
        await cli.expect(r"^error: you hold 10 AAPL and working SELL orders already cover 10: selling 5 could go short")
        await cli.send("flatten AAPL")
        await cli.expect(r"^flatten AAPL: cancelled 2 orders, sold 10 at market \(order #\d+ \w+\)$")
        await _retry(cli, "positions", r"^no positions$")
        await _retry(cli, "orders", r"^no open orders$")
        await cli.send("pnl")
        await cli.expect(r"^P&L today: daily [-+][\d,.]+, unrealized (?:[-+][\d,.]+|-), realized (?:[-+][\d,.]+|-)$")
