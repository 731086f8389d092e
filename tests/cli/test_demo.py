"""`breakout-kit demo` in-process: flags checked before anything starts, your TWS (a port) needs --trading to place
orders, exit 1 when every watcher failed, P&L and win rate in the summary."""

from __future__ import annotations

import pandas as pd
import pytest

from breakout_kit import cli
from breakout_kit.cli.demo import realized_pnl
from breakout_kit.gateway import PaperGateway

START = "2026-11-23T09:30:00-05:00"


@pytest.fixture(autouse=True)
def _no_env_port(monkeypatch):
    monkeypatch.delenv("IB_PORT", raising=False)


@pytest.mark.parametrize("argv,message", [
    (["--html", "/no/such/dir/demo.html"], "error: --html /no/such/dir/demo.html: directory /no/such/dir does not exist"),
    (["--lookback", "1000000"], "error: lookback must be a whole number of bars from 1 to 100000, got 1000000"),
    (["--qty", "5000"], "error: --qty 5000 exceeds the per-order limit of 1000 shares"),
    (["--sl", "50"], "error: --sl 50: stop-loss 50% below the entry is more than 20% away"),
])
async def test_bad_flags_fail_before_anything_starts(capsys, argv, message):
    assert await cli.run(["demo", *argv]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == message
    assert "using embedded paper gateway" not in captured.out       # nothing was started


async def test_html_directory_is_refused(capsys, tmp_path):
    assert await cli.run(["demo", "--html", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err


async def test_every_watcher_failed_exits_1(capsys):
    code = await cli.run(["demo", "--symbols", "ZZZZ,QQQQX", "--minutes", "2", "--speed", "900", "--start", START])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip() == "error: every watcher failed (2 of 2; see the summary's error column)"
    assert "ZZZZ    failed" in captured.out


async def test_a_port_means_your_tws_and_orders_need_trading(capsys, client_id):
    async with PaperGateway(port=0, speed=600.0, start=START, pacing="off") as gw:
        code = await cli.run(["demo", "--port", str(gw.port), "--client-id", str(client_id), "--symbols", "AAPL",
                              "--minutes", "0.02"])
        out = capsys.readouterr().out
        assert code == 0
        assert "using embedded paper gateway" not in out
        assert (f"demo: on 127.0.0.1:{gw.port}, account DU***4567: watching only, no orders (add --trading to "
                f"place brackets on this account)") in out
        assert "DU1234567" not in out                                  # the account is masked
        assert ", no orders\n" in out                                  # the plan line


async def test_summary_has_pnl_and_win_rate(capsys):
    code = await cli.run(["demo", "--symbols", "AAPL,MSFT", "--minutes", "35", "--speed", "900", "--start", START])
    out = capsys.readouterr().out
    assert code == 0
    header = next(ln for ln in out.splitlines() if ln.startswith("symbol"))
    assert header.split()[-3:] == ["realized", "unrealized", "error"]
    pnl = next(ln for ln in out.splitlines() if ln.startswith("P&L: "))
    assert "realized " in pnl and "unrealized " in pnl and "win rate: " in pnl


def test_realized_pnl_first_in_first_out():
    fills = pd.DataFrame({
        "time": pd.to_datetime(["2026-11-23 15:00", "2026-11-23 15:01", "2026-11-23 15:02", "2026-11-23 15:03",
                                "2026-11-23 15:04"], utc=True),
        "symbol": ["AAPL", "AAPL", "AAPL", "MSFT", "MSFT"],
        "side": ["BOT", "BOT", "SLD", "SLD", "BOT"],
        "shares": [10, 10, 15, 5, 5], "price": [100.0, 110.0, 105.0, 50.0, 52.0]})
    realized, wins, closed = realized_pnl(fills)
    # AAPL: 10 @100 -> +50, 5 @110 -> -25; MSFT short 5 @50 covered @52 -> -10
    assert realized == {"AAPL": pytest.approx(25.0), "MSFT": pytest.approx(-10.0)}
    assert (wins, closed) == (1, 2)
