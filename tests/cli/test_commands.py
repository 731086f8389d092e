"""The command language in-process with fakes: parsing, every command, one-line errors, fuzzing."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pandas as pd
import pytest
from cli_fakes import FakeClient, FakeWatcher, fake_ingest, fake_rule, fake_trade
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakout_kit.cli.commands import (
    COMMANDS,
    CommandError,
    Console,
    help_text,
    parse_bar_size,
    parse_duration,
    signal_line,
    split_args,
)


def make_session(trading=False):
    lines: list[str] = []
    session = Console(FakeClient(trading=trading), out=lines.append, trading=trading, watcher_factory=FakeWatcher,
                      rule_factory=fake_rule, trade_factory=fake_trade, ingest_fn=fake_ingest)
    return session, lines


def test_split_args_glues_duration_unit():
    assert split_args(["AAPL,MSFT", "duration=5", "D", "bar=1m"]) == (
        ["AAPL,MSFT"], {"duration": "5 D", "bar": "1m"})
    with pytest.raises(CommandError, match="twice"):
        split_args(["tp=1", "tp=2"])


@pytest.mark.parametrize("text,expected", [("1m", "1 min"), ("5m", "5 mins"), ("30s", "30 secs"),
                                           ("1h", "1 hour"), ("1d", "1 day"), ("1 min", "1 min")])
def test_bar_sizes(text, expected):
    assert parse_bar_size(text) == expected


@pytest.mark.parametrize("bad", ["7m", "0m", "m", "1x", "", "1.5m"])
def test_bad_bar_sizes(bad):
    with pytest.raises(CommandError):
        parse_bar_size(bad)


def test_durations():
    assert parse_duration("5D") == "5 D" and parse_duration("2 w") == "2 W"
    with pytest.raises(CommandError):
        parse_duration("0 D")


def test_signal_line_format():
    sig = SimpleNamespace(time=datetime(2026, 11, 23, 14, 45, tzinfo=timezone.utc), direction="up",
                          level=101.25, price=101.5)
    assert signal_line("AAPL", sig) == "SIGNAL AAPL up 2026-11-23T09:45:00-05:00 price=101.5 level=101.25"


def test_help_numbers_every_command():
    text = help_text()
    for n, cmd in enumerate(COMMANDS, start=1):
        assert f"{n:>2}. {cmd.usage}" in text


async def test_breakout_watchers_signal_stop():
    session, lines = make_session()
    reply = await session.execute("breakout aapl lookback=10 bar=5m trigger=high direction=both vol=1.5")
    assert reply.text == "watching AAPL: 10-bar high breakout both on 5 mins bars"
    w = session.watchers["AAPL"]
    assert (w.rule.lookback, w.rule.trigger, w.rule.direction, w.rule.min_rel_volume) == (10, "high", "both", 1.5)
    await asyncio.sleep(0)  # let the watcher task reach "live"
    assert (await session.execute("breakout AAPL")).text.startswith("error: already watching AAPL")
    w.emit(SimpleNamespace(time=datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc), direction="up",
                           level=100.0, price=100.5))
    assert lines == ["SIGNAL AAPL up 2026-11-23T10:00:00-05:00 price=100.5 level=100"]
    table = (await session.execute("status")).text.splitlines()
    assert table[0].split() == ["symbol", "state", "last", "bar", "last", "price", "signals", "brackets", "error"]
    assert table[1].split()[:2] == ["AAPL", "live"] and table[1].split()[4:6] == ["1", "-"]
    assert (await session.execute("stop AAPL")).text == "stopped AAPL"
    assert w.state == "stopped" and not session.watchers
    await session.aclose()


async def test_menu_number_alias_runs_the_command():
    session, _ = make_session()
    assert (await session.execute("2 SPY")).text.startswith("watching SPY")
    assert (await session.execute("1")).text == help_text()
    await session.aclose()
    assert session.watchers == {}


@pytest.mark.parametrize("line,message", [
    ("frobnicate", "unknown command 'frobnicate'"),
    ("breakout", "usage: breakout SYMBOL"),
    ("breakout XXXX", "unknown symbol XXXX"),
    ("breakout AAPL lookback=abc", "lookback must be a whole number"),
    ("breakout AAPL trigger=open", "trigger must be close or high"),
    ("breakout AAPL bar=7m", "is not an IB bar size"),
    ("breakout AAPL color=red", "unknown option color="),
    ("breakout AAPL trade=10 tp=1 sl=1", "trading is disabled"),
    ("breakout AAPL trade=10", "trade needs all of"),
    ("buy AAPL 10 tp=1 sl=1", "trading is disabled"),
    ("stop MSFT", "not watching MSFT"),
    ("cancel abc", "ID must be a whole number"),
    ("cancel 12", "trading is disabled"),
    ("ingest duration=5", "usage: ingest"),
    ("breakout 'AAPL", "cannot parse line"),
])
async def test_bad_input_is_one_error_line(line, message):
    session, _ = make_session()
    reply = await session.execute(line)
    assert reply.text.startswith("error: ") and "\n" not in reply.text and message in reply.text
    assert not reply.quit
    await session.aclose()


@pytest.mark.parametrize("line,message", [
    ("buy AAPL 10 tp=0 sl=1", "tp must be > 0"),
    ("buy AAPL 10 tp=1 sl=100", "sl must be < 100"),
    ("buy AAPL -5 tp=1 sl=1", "quantity must be a positive whole number of shares, got -5"),
    ("buy AAPL 1000000 tp=1 sl=1", "quantity 1000000 exceeds the per-order limit of 1000 shares"),
    ("buy AAPL ten tp=1 sl=1", "quantity must be a positive whole number of shares, got 'ten'"),
    ("buy AAPL 10 tp=nan sl=1", "tp must be a finite number"),
    ("buy AAPL 10 tp=1 sl=1 limit=-3", "limit must be > 0"),
    ("buy AAPL 10 tp=1", "usage: buy"),
    ("buy ZZZZ 10 tp=1 sl=1", "unknown symbol ZZZZ"),
])
async def test_buy_validation_with_trading(line, message):
    session, _ = make_session(trading=True)
    reply = await session.execute(line)
    assert reply.text.startswith("error: ") and message in reply.text
    assert not any(c[0] == "bracket" for c in session.client.calls)


async def test_buy_and_cancel_with_trading():
    session, _ = make_session(trading=True)
    reply = await session.execute("buy AAPL 10 tp=2 sl=1 limit=100")
    assert reply.text == ("bracket AAPL x10: parent #10 BUY LMT 100, take-profit #11 SELL LMT 102, "
                          "stop-loss #12 SELL STP 99")
    assert ("bracket", "AAPL", 10, 2.0, 1.0, 100.0) in session.client.calls
    assert (await session.execute("cancel 10")).text == "order #10: Cancelled"
    assert (await session.execute("cancel all")).text == "cancelled 3 open order(s)"
    assert session.client.calls[-2:] == [("cancel", 10), ("cancel_all",)]


async def test_tables_and_quit():
    session, _ = make_session()
    assert "AAPL" in (await session.execute("positions")).text
    assert (await session.execute("orders")).text == "no open orders"
    assert "NetLiquidation" in (await session.execute("account")).text
    assert (await session.execute("symbols A")).text == "AAPL"
    for word in ("quit", "exit", "QUIT"):
        assert (await session.execute(word)).quit


async def test_ingest_runs_in_background_with_progress():
    session, lines = make_session()
    reply = await session.execute("ingest AAPL,MSFT,BRK.B,SPY duration=2 D bar=5m dest=/tmp/x")
    assert reply.text == "ingest started: AAPL, MSFT, BRK.B, SPY 2 D of 5 mins bars -> /tmp/x"
    assert len(session.tasks) == 1
    await asyncio.wait_for(asyncio.gather(*session.tasks), 5)
    assert lines == ["ingest AAPL: done [1/4], 42 bars on disk (40 new)", "error: ingest MSFT [2/4]: boom",
                     "error: ingest BRK.B [3/4]: unknown symbol BRK.B",
                     "ingest SPY: done [4/4], 42 bars on disk (40 new)",
                     "ingest finished: 2/4 symbol(s), 84 bars -> /tmp/x"]


WORDS = ["help", "breakout", "watchers", "status", "stop", "buy", "orders", "cancel", "positions", "account",
         "ingest", "symbols", "menu", "?", "1", "2", "5", "13", "99", "AAPL", "xx", "all", "10", "-1", "1e999",
         "nan", "lookback=", "lookback=5", "bar=1m", "bar=7x", "tp=1", "sl=2", "trade=3", "limit=1.5", "=",
         "vol=inf", "duration=5", "D", "dest=", "'", '"', "\\", "é", "\x00", "trigger=high", "direction=both"]


LINES = st.one_of(st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join), st.text(max_size=40))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(LINES, min_size=1, max_size=4), st.booleans())
def test_random_lines_never_raise(lines, trading):
    """Any sequence of lines -> Replies; errors are exactly one line; the session survives (fresh loop per example).

    Uses the real parser/dispatcher and the real BreakoutRule validation; only the IB side is faked."""
    from breakout_kit.core.breakout import BreakoutRule

    async def one():
        session, _ = make_session(trading)
        session.rule_factory = BreakoutRule
        try:
            for line in lines:
                reply = await session.execute(line)
                assert isinstance(reply.text, str)
                if reply.text.startswith("error: "):
                    assert "\n" not in reply.text and "Traceback" not in reply.text
                elif line.strip():
                    assert reply.text.strip(), f"no output for {line!r}"
                if reply.quit:
                    break
            follow = await session.execute("status")  # the loop keeps going after anything
            assert follow.text
        finally:
            await session.aclose()
        assert all(w.state == "stopped" for w in session.watchers.values()) and not session.tasks
    asyncio.run(one())


async def test_breakout_with_trade_spec():
    session, _ = make_session(trading=True)
    reply = await session.execute("breakout AAPL trade=5 tp=1.5 sl=0.5")
    assert reply.text == ("watching AAPL: 20-bar close breakout up on 1 min bars, "
                          "bracket 5 on each signal tp=1.5% sl=0.5%")
    t = session.watchers["AAPL"].trade
    assert (t.quantity, t.take_profit_pct, t.stop_loss_pct) == (5, 1.5, 0.5)
    await session.aclose()


async def test_real_rule_validation_is_one_line():
    """With the real BreakoutRule (breakout.py), the session still answers in one line."""
    from breakout_kit.core.breakout import BreakoutRule

    session, _ = make_session()
    session.rule_factory = BreakoutRule
    reply = await session.execute("breakout AAPL lookback=5 direction=both trigger=high vol=2")
    assert reply.text.startswith("watching AAPL: 5-bar high breakout both")
    rule = session.watchers["AAPL"].rule
    assert (rule.lookback, rule.trigger, rule.direction, rule.min_rel_volume) == (5, "high", "both", 2.0)
    await session.aclose()


async def test_backfill_signals_are_not_announced():
    """Signals the first backfill replays stay in the watcher's list but print nothing; live ones print."""
    session, lines = make_session()
    await session.execute("breakout AAPL")
    w = session.watchers["AAPL"]
    sig = SimpleNamespace(time=datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc), direction="up",
                          level=100.0, price=100.5)
    w.state = "backfilling"
    w.emit(sig)
    assert lines == [] and len(w.signals) == 1
    for state in ("live", "reconnecting"):  # a reconnect's gap fill is news: it happened while we were away
        w.state = state
        w.emit(sig)
    assert len(lines) == 2 and all(ln.startswith("SIGNAL AAPL up ") for ln in lines)
    await session.aclose()


def test_fill_line_and_refused_brackets_in_status():
    from breakout_kit.cli.commands import fill_line
    from breakout_kit.client.realtime import Execution

    fill = Execution(datetime(2026, 11, 23, 14, 54, tzinfo=timezone.utc), "AAPL", "BOT", 10.0, 244.58000001, 7,
                     "bk-AAPL-20261123T095400-up", "0001")
    assert fill_line(fill) == "FILL AAPL BOT 10 @ 244.58 order #7 bk-AAPL-20261123T095400-up"

    async def check():
        session, _ = make_session(trading=True)
        await session.execute("breakout AAPL trade=10 tp=1 sl=1")
        w = session.watchers["AAPL"]
        w.orders, w.trade_errors = [[1, 2, 3]], ["09:54 AAPL: no acknowledgement"]
        row = (await session.execute("status")).text.splitlines()[1]
        assert row.split()[5] == "1" and row.endswith("1 bracket(s) refused, last: 09:54 AAPL: no acknowledgement")
        await session.aclose()
    asyncio.run(check())


async def test_help_for_one_command_has_examples():
    session, _ = make_session()
    text = (await session.execute("help buy")).text
    assert text.splitlines()[0] == "buy SYMBOL QTY tp=PCT sl=PCT [limit=PRICE] [force=1]"
    assert "  examples:" in text and "    buy AAPL 10 tp=2 sl=1" in text
    assert (await session.execute("help watch")).text.startswith("breakout SYMBOL")
    assert (await session.execute("help nope")).text == "error: no command 'nope' (type help)"


async def test_symbols_without_pattern_lists_every_symbol():
    session, _ = make_session()
    assert (await session.execute("symbols")).text == ("4 symbols (TWS suggests up to 16 per letter; symbols "
                                                       "PATTERN finds more):\nAAPL BRK.B MSFT SPY")
    session.universe = lambda: ["ZZ", "AA", "MM"]      # the embedded gateway knows its whole list
    assert (await session.execute("symbols")).text == "3 symbols:\nAA MM ZZ"


async def test_account_is_short_unless_all():
    session, _ = make_session()
    short = (await session.execute("account")).text
    assert "NetLiquidation" in short and "BuyingPower" in short and "Cushion" not in short
    assert short.endswith("(account all: every value)")
    assert "Cushion" in (await session.execute("account all")).text
    assert (await session.execute("account everything")).text == "error: usage: account [all]"


async def test_pnl_line():
    session, _ = make_session()
    assert (await session.execute("pnl")).text == "P&L today: daily +12.30, unrealized -2.50, realized -"


@pytest.mark.parametrize("line,message", [
    ("sell MSFT 1", "error: you hold no MSFT to sell: sell only closes a long position (add short=1 to sell short)"),
    ("sell AAPL 20", ("error: you hold 10 AAPL: selling 20 could go short (sell at most 10, or add short=1 to "
                     "sell short)")),
    ("sell AAPL 5 limit=1", ("warning: limit 1 is 99.0% below the last price 100 (more than 10%): nothing sent "
                            "(add force=1 to place it anyway)")),
    ("sell AAPL 5 short=maybe", "error: short must be 1 or 0, got 'maybe'"),
    ("sell SPY 1", ("error: you are short 5 SPY: sell only closes a long position (buy to cover, or add short=1 to "
                   "sell more short)")),
])
async def test_sell_only_closes_unless_asked(line, message):
    session, _ = make_session(trading=True)
    session.client.held["SPY"] = -5.0
    assert (await session.execute(line)).text == message
    assert not any(c[0] == "order" for c in session.client.calls)


async def test_sell_places_closing_and_explicit_short_orders():
    session, _ = make_session(trading=True)
    assert (await session.execute("sell AAPL 4")).text == "sell AAPL x4 at market: order #10 Submitted"
    assert (await session.execute("sell MSFT 3 short=1")).text == "sell MSFT x3 at market: order #11 Submitted"
    assert (await session.execute("sell AAPL 5 limit=1 --force")).text.startswith("sell AAPL x5 limit 1:")
    assert [c for c in session.client.calls if c[0] == "order"] == [
        ("order", "AAPL", "SELL", 4, None), ("order", "MSFT", "SELL", 3, None), ("order", "AAPL", "SELL", 5, 1.0)]


async def test_sell_counts_a_brackets_exits_as_already_selling():
    session, _ = make_session(trading=True)
    await session.execute("buy AAPL 10 tp=2 sl=1")   # its two exits (one cancels the other) would sell 10
    reply = (await session.execute("sell AAPL 5")).text
    assert reply == ("error: you hold 10 AAPL and working SELL orders already cover 10: selling 5 could go short "
                     "(flatten AAPL cancels them and sells; or add short=1 to sell short)")


async def test_flatten_cancels_then_closes():
    session, _ = make_session(trading=True)
    await session.execute("buy AAPL 10 tp=2 sl=1")
    reply = (await session.execute("flatten AAPL")).text
    assert reply == "flatten AAPL: cancelled 3 orders, sold 10 at market (order #13 Submitted)"
    calls = session.client.calls
    assert calls.index(("cancel", 10)) < calls.index(("order", "AAPL", "SELL", 10, None))
    session.client.held = {"AAPL": 10.0, "SPY": -5.0}
    text = (await session.execute("flatten all")).text
    assert text.splitlines() == ["flatten AAPL: cancelled 0 orders, sold 10 at market (order #14 Submitted)",
                                 "flatten SPY: cancelled 0 orders, bought 5 at market (order #15 Submitted)"]
    assert (await make_session()[0].execute("flatten AAPL")).text.startswith("error: trading is disabled")


async def test_every_order_a_command_places_carries_its_own_key():
    session, _ = make_session(trading=True)
    await session.execute("buy AAPL 10 tp=2 sl=1")
    await session.execute("sell MSFT 3 short=1")
    await session.execute("flatten AAPL")
    refs = session.client.order_refs
    assert len(refs) == 3 == len(set(refs)) and all(re.fullmatch(r"bk-cli-[0-9a-f]{8}", r) for r in refs)


@pytest.mark.parametrize("line,message", [
    ("buy AAPL 10 tp=2 sl=99.9", ("warning: stop-loss 99.9% below the entry is more than 20% away: nothing sent "
                                 "(add force=1 to place it anyway)")),
    ("buy AAPL 10 tp=2 sl=1 limit=1", ("warning: limit 1 is 99.0% below the last price 100 (more than 10%): "
                                      "nothing sent (add force=1 to place it anyway)")),
    ("breakout AAPL trade=10 tp=2 sl=50", "warning: stop-loss 50% below the entry is more than 20% away"),
])
async def test_values_far_from_the_market_need_force(line, message):
    session, _ = make_session(trading=True)
    reply = await session.execute(line)
    assert reply.text.startswith(message)
    assert not any(c[0] == "bracket" for c in session.client.calls) and not session.watchers
    forced = await session.execute(line + " force=1")
    assert forced.text.startswith(("bracket AAPL x10", "watching AAPL")), forced.text
    await session.aclose()


@pytest.mark.parametrize("line,message", [
    ("breakout AAPL lookback=100001", "lookback must be a whole number of bars from 1 to 100000, got 100001"),
    ("breakout AAPL trade=5000 tp=1 sl=1", "quantity 5000 exceeds the per-order limit of 1000 shares"),
    ("sell AAPL 5000", "quantity 5000 exceeds the per-order limit of 1000 shares"),
])
async def test_one_wording_for_limits(line, message):
    session, _ = make_session(trading=True)
    assert (await session.execute(line)).text == "error: " + message


async def test_ingest_of_daily_bars_shows_session_dates():
    """ingest's summary names daily bars by session date: the line shows 2025-12-01 .. 2026-11-30, not the
    evening before in New York."""
    async def daily_ingest(client, symbols, duration, bar_size, dest):
        return pd.DataFrame({"symbol": symbols, "rows": [251], "new_rows": [251], "error": [""],
                             "first": [date(2025, 12, 1)], "last": [date(2026, 11, 30)]})

    lines: list[str] = []
    session = Console(FakeClient(), out=lines.append, watcher_factory=FakeWatcher, rule_factory=fake_rule,
                      trade_factory=fake_trade, ingest_fn=daily_ingest)
    await session.execute("ingest AAPL duration=1 Y bar=1d dest=/tmp/x")
    await asyncio.wait_for(asyncio.gather(*session.tasks), 5)
    assert lines[0] == "ingest AAPL: done [1/1], 251 bars on disk (251 new), 2025-12-01 .. 2026-11-30"


@pytest.mark.parametrize("text,symbol", [("aapl", "AAPL"), ("BRK.B", "BRK.B"), ("brk b", "BRK B"), (" BF  B ", "BF B")])
def test_symbols_include_share_classes(text, symbol):
    from breakout_kit.cli.parsing import parse_symbol

    assert parse_symbol(text) == symbol
