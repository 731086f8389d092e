"""``python -m breakout_kit.gateway`` as a subprocess; a plain ib_insync script gets bars from it."""

import asyncio
import re
import signal
import sys
import textwrap

import pytest

pytestmark = pytest.mark.ib

CLIENT_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from breakout_kit.client.iblib import IB, Stock

    async def main(port):
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=7, timeout=5)
        bars = await ib.reqHistoricalDataAsync(Stock("SPY", "SMART", "USD"), "", "1 D", "1 min", "TRADES",
                                               False, 1)
        live = ib.reqRealTimeBars(Stock("SPY", "SMART", "USD"), 5, "TRADES", False)
        while len(live) < 2:
            await asyncio.wait_for(ib.updateEvent, 10)
        print("history", len(bars), "live", len(live), flush=True)
        ib.disconnect()

    asyncio.run(main(int(sys.argv[1])))
""")


async def test_module_entry_point_serves_a_plain_client(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--speed", "60", "--start",
        "2026-11-23T09:30", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        m = re.fullmatch(r"paper gateway listening on 127\.0\.0\.1:(\d+)\n", first)
        assert m, first
        port = int(m.group(1))
        assert port != 0
        script = tmp_path / "client.py"
        script.write_text(CLIENT_SCRIPT)
        client = await asyncio.create_subprocess_exec(sys.executable, str(script), str(port),
                                                      stdout=asyncio.subprocess.PIPE,
                                                      stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(client.communicate(), 60)
        assert client.returncode == 0, err.decode()[-2000:]
        words = out.decode().split()
        # 04:00 .. 09:29 pre-market minutes, plus the running minute once the clock passed 09:30:05
        assert words[0] == "history" and 330 <= int(words[1]) <= 335 and int(words[3]) >= 2
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"paper gateway stopped" in rest


@pytest.mark.parametrize(("flags", "says"), [
    (["--host", "0.0.0.0"], b"non-loopback host 0.0.0.0"),
    (["--host", "0.0.0.0", "--allow-remote"], b"--allow-remote needs --trusted-ips"),
    (["--trusted-ips", "10.0.0.0/8"], b"--trusted-ips only matters with --allow-remote"),
    (["--allow-remote", "--trusted-ips", "10.0.0.300"], b"'10.0.0.300' is not an IP address"),
])
async def test_remote_access_needs_the_flag_and_an_allow_list(flags, says):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert says in err and out == b""
    assert len(err.strip().splitlines()) == 1                 # one line, naming the flag
    if flags[:2] == ["--host", "0.0.0.0"] and len(flags) == 2:
        assert b"--allow-remote --trusted-ips" in err


async def test_allow_remote_warns_loudly_and_names_who_may_connect():
    """Bound to loopback here (tests stay on loopback); the warning is what --allow-remote always prints."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--allow-remote", "--trusted-ips",
        "192.168.1.0/24,10.0.0.7", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert re.fullmatch(r"paper gateway listening on 127\.0\.0\.1:\d+\n", first), first
        lines = [(await asyncio.wait_for(proc.stderr.readline(), 30)).decode() for _ in range(2)]
        assert "beyond loopback" in lines[0]                   # the log line (also for PaperGateway users)
        warning = lines[1]                                     # and the banner
        assert warning.startswith("WARNING: listening on 127.0.0.1 beyond loopback")
        assert "192.168.1.0/24, 10.0.0.7/32" in warning and "others are refused" in warning
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)


def test_account_flags_reach_the_gateway():
    from breakout_kit.gateway.__main__ import parse_args

    args = parse_args(["--account", "DU7654321", "--cash", "25000", "--readonly-api"])
    assert (args.account, args.cash, args.readonly_api) == ("DU7654321", 25000.0, True)
    assert parse_args([]).readonly_api is False


async def test_bad_cash_is_one_line_exit_2():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "breakout_kit.gateway", "--port", "0", "--cash", "-5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2, err.decode()
    assert err.decode().startswith("error: ") and err.decode().count("\n") == 1
