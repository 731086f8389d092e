"""The real console script on forex, futures and indexes against the embedded gateway (piped stdin)."""

from __future__ import annotations

import re

from cli_proc import piped_session
from test_cli_e2e import FAST, _retry


async def test_breakout_on_forex_futures_and_an_index_goes_live():
    async with piped_session(*FAST) as cli:
        await cli.expect(r"^connected to ")
        for sym in ("EURUSD", "/ES", "ESZ6", "SPX"):
            await cli.send(f"breakout {sym} bar=1m")
            await cli.expect(rf"^watching {re.escape(sym)}: 20-bar close breakout up on 1 min bars")
        await cli.send("breakout ES")
        await cli.expect(r"^watching ES: ")
        await cli.expect(r"^note: ES is the stock; for the E-mini S&P 500 future write /ES")
        answer = await _retry(cli, "status", r"(?s)(?=.*^EURUSD\s+live)(?=.*^/ES\s+live)(?=.*^ESZ6\s+live)"
                                             r"(?=.*^SPX\s+live)")
        assert "failed" not in answer, answer
        await cli.send("breakout NQ")
        await cli.expect(r"^error: .*unknown symbol NQ: .*write /NQ")


async def test_future_bracket_is_tick_rounded_and_positions_carry_the_multiplier():
    async with piped_session(*FAST, "--trading") as cli:
        await cli.expect(r"^connected to .*trading enabled")
        await cli.send("buy ESZ6 100 tp=0.5 sl=0.25")
        await cli.expect(r"^error: .*quantity 100 exceeds the per-order limit of 10 futures contracts")
        await cli.send("buy ESZ6 1 tp=0.5 sl=0.25")
        line = await cli.expect(r"^(bracket|error)")
        b = re.fullmatch(r"bracket ESZ6 x1: parent #\d+ BUY MKT, take-profit #\d+ SELL LMT (\S+), "
                         r"stop-loss #\d+ SELL STP (\S+)", line)
        assert b, line
        tp, sl = (float(x.replace(",", "")) for x in b.groups())
        assert tp % 0.25 == 0 and sl % 0.25 == 0 and tp > sl
        answer = await _retry(cli, "positions", r"^\s*ESZ6\s+1\s")
        row = next(r for r in answer.splitlines() if r.strip().startswith("ESZ6"))
        avg_cost = float(row.split()[2].replace(",", ""))
        assert 50 * sl < avg_cost < 50 * tp + 10, row      # per contract: price x 50 (+ commission)
        await cli.send("pnl")
        await cli.expect(r"^P&L today: daily [-+][\d,.]+, unrealized (?:[-+][\d,.]+|-), realized (?:[-+][\d,.]+|-)$")
        await cli.send("cancel all")
        await cli.expect(r"^cancelled \d+ open order\(s\)$")
