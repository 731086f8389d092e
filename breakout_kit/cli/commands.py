"""The CLI's command table and the dispatcher (``Console``); watcher, ingest and lookup commands.

Everything here runs on the one event loop and never blocks it. ``Console.execute(line)`` turns one input line into
a ``Reply`` (text to print, and whether to quit); it never raises for bad input: every failure becomes exactly one
``error: ...`` line. Long work (watchers, ingest) runs as tasks the session owns, and ``Console.aclose()`` ends them.
Argument parsing lives in ``parsing``, display in ``format``, the order and account commands in ``trading``.

The session only talks to the client through the pinned IBClient API and builds watchers through a factory, so tests
can drive it in-process with small fakes.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import string
import textwrap
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from breakout_kit.cli.format import (  # noqa: F401  (re-exported: the CLI's one import point)
    DISPLAY_TZ,
    Printer,
    Reply,
    error_line,
    fill_line,
    format_frame,
    format_price,
    format_table,
    format_time,
    one_line,
    report_fills,
    signal_line,
)
from breakout_kit.cli.parsing import (
    MAX_LINE,
    CommandError,
    parse_bar_size,
    parse_duration,
    parse_flag,
    parse_float,
    parse_int,
    parse_symbol,
    split_args,
    too_long,
)
from breakout_kit.cli.trading import ORDER_COLUMNS, POSITION_COLUMNS, TradingCommands  # noqa: F401
from breakout_kit.client import symbols
from breakout_kit.client.ingest import ingest
from breakout_kit.client.limits import LimitError, check_lookback, far_stop
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec
from breakout_kit.watch.watchlist import FINISHED, Watchlist

# ---------------------------------------------------------------------------------------------------------------
# The command table
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Command:
    """One command: its name, aliases, a usage line, a summary, examples and the coroutine method that runs it."""

    name: str
    usage: str
    summary: str
    handler: str
    aliases: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


COMMANDS: list[Command] = [
    Command("help", "help [COMMAND]", "list the commands, or one command with examples (also: ?, menu)", "cmd_help",
            ("?", "menu"), ("help", "help buy")),
    Command("breakout", "breakout SYMBOL [lookback=20] [bar=1m] [trigger=close|high] [direction=up|down|both] "
            "[vol=X] [trade=QTY tp=PCT sl=PCT [force=1]]", "watch SYMBOL for breakouts (runs in the background)",
            "cmd_breakout", ("watch",),
            ("breakout AAPL", "breakout SPY lookback=30 bar=5m direction=both",
             "breakout MSFT trade=10 tp=1 sl=0.5   (a paper bracket on each signal; needs --trading)")),
    Command("watchers", "watchers", "table of watchers: state, last bar/price, live signals, brackets, error",
            "cmd_watchers", ("status",), ("watchers",)),
    Command("stop", "stop SYMBOL|all", "stop one watcher or all of them", "cmd_stop", (), ("stop AAPL", "stop all")),
    Command("buy", "buy SYMBOL QTY tp=PCT sl=PCT [limit=PRICE] [force=1]",
            "place a bracket order: entry, take-profit tp% above, stop-loss sl% below (needs --trading)",
            "cmd_buy", (), ("buy AAPL 10 tp=2 sl=1", "buy AAPL 10 tp=2 sl=1 limit=240.50",
                            "buy AAPL 10 tp=2 sl=25 force=1   (a stop more than 20% away needs force=1)")),
    Command("orders", "orders", "list open orders", "cmd_orders", (), ("orders",)),
    Command("cancel", "cancel ID|all", "cancel one order or all open orders", "cmd_cancel", (),
            ("cancel 12", "cancel all")),
    Command("positions", "positions", "list positions", "cmd_positions", (), ("positions",)),
    Command("account", "account [all]", "account summary: the main values, or all of them", "cmd_account", (),
            ("account", "account all")),
    Command("ingest", "ingest SYMBOL[,SYMBOL...] [duration=5 D] [bar=1m] [dest=data/]",
            "download history to Parquet in the background", "cmd_ingest", (),
            ("ingest AAPL", "ingest AAPL,MSFT duration=10 D bar=5m dest=data/")),
    Command("symbols", "symbols [PATTERN]", "look up symbols (no pattern: list every symbol)", "cmd_symbols", (),
            ("symbols", "symbols MS", "symbols apple")),
    Command("quit", "quit", "stop everything and exit (also: exit, Ctrl-D)", "cmd_quit", ("exit", "q"), ("quit",)),
    Command("sell", "sell SYMBOL QTY [limit=PRICE] [short=1] [force=1]",
            "sell shares you hold (never short unless short=1; needs --trading)", "cmd_sell", (),
            ("sell AAPL 10", "sell AAPL 10 limit=245", "sell AAPL 10 short=1   (open a short position)")),
    Command("flatten", "flatten SYMBOL|all",
            "cancel the symbol's open orders, then close its position at market (needs --trading)", "cmd_flatten",
            (), ("flatten AAPL", "flatten all")),
    Command("pnl", "pnl", "today's profit and loss of the account: daily, unrealized, realized", "cmd_pnl", (),
            ("pnl",)),
    Command("scan", "scan CODE [rows=10] [price>X] [price<X] [volume>N] [cap>USD] [cap<USD]",
            "market scanner: top_perc_gain, top_perc_lose, most_active, hot_by_volume, high_vs_13w_hi", "cmd_scan",
            (), ("scan top_perc_gain", "scan most_active rows=5 price>10 volume>1000000")),
]


def _command_index() -> dict[str, Command]:
    index: dict[str, Command] = {}
    for cmd in COMMANDS:
        index[cmd.name] = cmd
        for alias in cmd.aliases:
            index[alias] = cmd
    for number, cmd in enumerate(COMMANDS, start=1):  # the numbered menu: "2 AAPL" == "breakout AAPL"
        index[str(number)] = cmd
    return index


COMMAND_INDEX = _command_index()
COMMAND_WORDS = sorted(k for k in COMMAND_INDEX if not k.isdigit())


def help_text() -> str:
    """The numbered command menu."""
    lines = ["commands (type the name or its number; help COMMAND shows examples):"]
    for number, cmd in enumerate(COMMANDS, start=1):
        lines.append(f"  {number:>2}. {cmd.usage}")
        lines.append(f"      {cmd.summary}")
    return "\n".join(lines)


def command_help(word: str) -> str:
    """One command's usage, summary, aliases and examples."""
    cmd = COMMAND_INDEX.get(word.lower())
    if cmd is None:
        raise CommandError(f"no command {one_line(word)!r} (type help)")
    lines = [cmd.usage, f"  {cmd.summary}"]
    if cmd.aliases:
        lines.append(f"  also: {', '.join(cmd.aliases)}")
    if cmd.examples:
        lines.append("  examples:")
        lines += [f"    {example}" for example in cmd.examples]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------------------------

WatcherFactory = Callable[..., Any]


async def _default_ingest(client, symbols, duration, bar_size, dest):
    # progress=False: a tqdm bar on stderr would fight the prompt; the session prints a line per symbol instead.
    return await ingest(client, symbols, duration, bar_size, dest=dest, progress=False)


@dataclass
class Console(TradingCommands):
    """The command loop's state: the client, the watchers and background tasks, and where output goes.

    ``out`` prints one chunk of text (the CLI points it at stdout, above the prompt in a terminal).
    ``trading`` mirrors the client's flag so refusals are immediate and clear.
    The factories exist so tests can run the dispatcher with fakes.
    """

    client: Any
    out: Printer = print
    trading: bool = False
    debug: bool = False
    watcher_factory: WatcherFactory = BreakoutWatcher
    rule_factory: Callable[..., Any] = BreakoutRule
    trade_factory: Callable[..., Any] = TradeSpec
    ingest_fn: Callable[..., Awaitable[Any]] = _default_ingest
    #: every symbol the server knows, when it can say (the embedded gateway); None for TWS (``symbols`` asks it)
    universe: Callable[[], list[str]] | None = None
    tasks: set[asyncio.Task] = field(default_factory=set)
    watchlist: Watchlist = field(init=False)

    def __post_init__(self) -> None:
        self.watchlist = Watchlist(self.client, watcher_factory=self.watcher_factory)
        self.watchlist.live_signal_event += self._on_signal
        self.watchlist.state_event += self._on_state

    @property
    def watchers(self) -> dict[str, Any]:
        return self.watchlist.watchers

    @property
    def signal_count(self) -> int:
        """Live signals announced so far (backfill replays are not news)."""
        return self.watchlist.signal_count

    # -- dispatch ------------------------------------------------------------------------------------------------

    async def execute(self, line: str) -> Reply:
        """Run one command line. Never raises for bad input: failures become one ``error: ...`` line."""
        length = too_long(line)
        if length:  # before any parsing: nothing typed may hold the loop
            return Reply(f"error: line too long ({length} characters; the limit is {MAX_LINE}): nothing was run")
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            return Reply(error_line(CommandError(f"cannot parse line: {exc}")))
        if not tokens:
            return Reply("")
        word = tokens[0].lower()
        cmd = COMMAND_INDEX.get(word)
        if cmd is None:
            return Reply(f"error: unknown command {one_line(tokens[0])!r} (type help)")
        try:
            positional, options = split_args(tokens[1:])
            return await getattr(self, cmd.handler)(positional, options)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  (UI boundary: every failure is one line; traceback with --debug)
            if self.debug:
                traceback.print_exc()
            return Reply(error_line(exc))

    def _task(self, coro, name: str) -> asyncio.Task:
        """A background task the session owns (strong reference; removed when done; reaped by aclose)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @staticmethod
    def _no_options(options: dict[str, str], allowed: set[str] = frozenset()) -> None:
        extra = sorted(set(options) - set(allowed))
        if extra:
            raise CommandError(f"unknown option {extra[0]}= (allowed: {', '.join(sorted(allowed)) or 'none'})")

    @staticmethod
    def _usage_error(name: str) -> CommandError:
        return CommandError("usage: " + COMMAND_INDEX[name].usage)

    def _require_trading(self) -> None:
        if not self.trading:
            raise CommandError("trading is disabled (start with --trading to place paper orders)")

    # -- commands ------------------------------------------------------------------------------------------------

    async def cmd_help(self, positional, options) -> Reply:
        self._no_options(options)
        if len(positional) > 1:
            raise self._usage_error("help")
        return Reply(command_help(positional[0]) if positional else help_text())

    async def cmd_quit(self, positional, options) -> Reply:
        return Reply("bye", quit=True)

    async def cmd_breakout(self, positional, options) -> Reply:
        if len(positional) != 1:
            raise CommandError("usage: " + COMMAND_INDEX["breakout"].usage)
        self._no_options(options, {"lookback", "bar", "trigger", "direction", "vol", "trade", "tp", "sl", "force"})
        symbol = parse_symbol(positional[0])
        current = self.watchers.get(symbol)
        if current is not None and current.state not in FINISHED:
            raise CommandError(f"already watching {symbol} (stop {symbol} first)")
        lookback = self._lookback(options.get("lookback", "20"))
        bar_size = parse_bar_size(options.get("bar", "1m"), live=True)
        trigger = options.get("trigger", "close").lower()
        direction = options.get("direction", "up").lower()
        if trigger not in ("close", "high"):
            raise CommandError(f"trigger must be close or high, got {trigger!r}")
        if direction not in ("up", "down", "both"):
            raise CommandError(f"direction must be up, down or both, got {direction!r}")
        vol = parse_float("vol", options.get("vol", "0"), low=0.0, low_open=False)
        trade = None
        if any(k in options for k in ("trade", "tp", "sl")):
            if not all(k in options for k in ("trade", "tp", "sl")):
                raise CommandError("trade needs all of trade=QTY tp=PCT sl=PCT")
            self._require_trading()
            qty = self._quantity(options["trade"])
            tp = parse_float("tp", options["tp"], low=0.0, high=100.0)
            sl = parse_float("sl", options["sl"], low=0.0, high=100.0)
            refusal = self._unless_forced([far_stop(sl)], parse_flag("force", options.get("force", "0")))
            if refusal is not None:
                return refusal
            trade = self.trade_factory(qty, tp, sl)
        rule = self.rule_factory(lookback=lookback, trigger=trigger, direction=direction, min_rel_volume=vol)
        # unknown symbols fail in add(), as one line, before any task starts
        await self.watchlist.add(symbol, rule=rule, bar_size=bar_size, trade=trade)
        extra = f", bracket {qty} on each signal tp={tp:g}% sl={sl:g}%" if trade is not None else ""
        note = symbols.hint(symbol)
        note = f"\nnote: {note}" if note else ""
        return Reply(f"watching {symbol}: {lookback}-bar {trigger} breakout {direction} on {bar_size} bars{extra}"
                     f"{note}")

    @staticmethod
    def _lookback(text: str) -> int:
        """The channel length, in the one wording of ``client.limits``."""
        try:
            value: object = int(text)
        except ValueError:
            value = text
        try:
            return check_lookback(value)
        except LimitError as e:
            raise CommandError(str(e)) from None

    def _on_signal(self, watcher, signal) -> None:
        self.out(signal_line(watcher.symbol, signal))   # live signals only: the watchlist skips backfill replays

    def _on_state(self, watcher, state) -> None:
        if state == "failed":
            self.out(f"error: watcher {watcher.symbol} failed: {one_line(watcher.error or 'unknown error')}")

    async def cmd_watchers(self, positional, options) -> Reply:
        self._no_options(options)
        if positional:
            raise CommandError("usage: watchers")
        if not self.watchers:
            return Reply("no watchers (start one with: breakout SYMBOL)")
        rows = [{"symbol": r["symbol"], "state": r["state"],
                 "last bar": format_time(r["last_bar"]) if r["last_bar"] is not None else "-",
                 "last price": format_price(r["last_price"]) if r["last_bar"] is not None else "-",
                 "signals": r["signals"], "brackets": "-" if r["brackets"] is None else r["brackets"],
                 "error": one_line(r["error"])} for r in self.watchlist.rows()]
        return Reply(format_table(rows, ["symbol", "state", "last bar", "last price", "signals", "brackets",
                                         "error"]))

    async def cmd_stop(self, positional, options) -> Reply:
        self._no_options(options)
        if len(positional) != 1:
            raise CommandError("usage: stop SYMBOL|all")
        if positional[0].lower() == "all":
            targets = list(self.watchers)
            if not targets:
                return Reply("no watchers")
        else:
            sym = parse_symbol(positional[0])
            if sym not in self.watchers:
                raise CommandError(f"not watching {sym}")
            targets = [sym]
        for sym in targets:
            await self.watchlist.stop(sym, forget=True)
        return Reply(f"stopped {', '.join(targets)}")

    async def cmd_symbols(self, positional, options) -> Reply:
        self._no_options(options)
        if len(positional) > 1:
            raise CommandError("usage: symbols [PATTERN]")
        if positional:
            found = await self.client.matching_symbols(positional[0])
            return Reply(" ".join(found) if found else f"no symbols match {positional[0]!r}")
        if self.universe is not None:       # the embedded gateway: its whole list
            found = sorted(self.universe())
            note = ""
        else:
            # TWS only matches a pattern: ask for every letter at once (it suggests up to 16 per request)
            answers = await asyncio.gather(*(self.client.matching_symbols(c) for c in string.ascii_uppercase),
                                           return_exceptions=True)
            found = sorted({s for a in answers if isinstance(a, list) for s in a})
            failed = next((a for a in answers if isinstance(a, BaseException)), None)
            if not found and failed is not None:
                raise failed
            note = " (TWS suggests up to 16 per letter; symbols PATTERN finds more)"
        if not found:
            return Reply("no symbols known")
        return Reply(f"{len(found)} symbols{note}:\n" + textwrap.fill(" ".join(found), width=110))

    async def cmd_scan(self, positional, options) -> Reply:
        self._no_options(options, {"rows"})
        if not positional:
            raise CommandError("usage: " + COMMAND_INDEX["scan"].usage)
        names = {("price", ">"): "above_price", ("price", "<"): "below_price", ("volume", ">"): "above_volume",
                 ("cap", ">"): "market_cap_above", ("cap", "<"): "market_cap_below"}
        limits: dict[str, float] = {}
        for tok in positional[1:]:
            m = re.fullmatch(r"(price|volume|cap)([<>])(.+)", tok.strip().lower())
            if m is None or (m.group(1), m.group(2)) not in names:
                raise CommandError(f"bad scan filter {tok!r}: use price>X, price<X, volume>N, cap>USD or cap<USD")
            limits[names[m.group(1), m.group(2)]] = parse_float(tok, m.group(3), low=0, low_open=False)
        rows = parse_int("rows", options.get("rows", "10"), high=50)
        frame = await self.client.scan(positional[0].upper(), rows, **limits)
        return Reply(format_frame(frame, f"no {positional[0].lower()} rows", ["rank", "symbol"]))

    async def cmd_ingest(self, positional, options) -> Reply:
        self._no_options(options, {"duration", "bar", "dest"})
        if len(positional) != 1:
            raise CommandError("usage: " + COMMAND_INDEX["ingest"].usage)
        symbols = [parse_symbol(s) for s in positional[0].split(",") if s.strip()]
        if not symbols:
            raise CommandError("ingest needs at least one symbol")
        duration = parse_duration(options.get("duration", "5 D"))
        bar_size = parse_bar_size(options.get("bar", "1m"))
        dest = options.get("dest", "data/") or "data/"
        self._task(self._ingest(symbols, duration, bar_size, dest), name=f"ingest {','.join(symbols)}")
        return Reply(f"ingest started: {', '.join(symbols)} {duration} of {bar_size} bars -> {dest}")

    async def _ingest(self, symbols, duration, bar_size, dest) -> None:
        """One symbol at a time so progress is a line per symbol; the ingest module does pacing and resume."""
        total = failed = 0
        for n, sym in enumerate(symbols, start=1):
            try:
                summary = await self.ingest_fn(self.client, [sym], duration, bar_size, dest)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  (UI boundary: one error line, traceback only with --debug)
                if self.debug:
                    traceback.print_exc()
                summary, problem = None, one_line(str(exc)) or type(exc).__name__
            else:
                problem = _summary_error(summary)
            if problem:
                failed += 1
                self.out(f"error: ingest {sym} [{n}/{len(symbols)}]: {problem}")
                continue
            rows, new = _summary_value(summary, "rows"), _summary_value(summary, "new_rows")
            total += rows or 0
            detail = ""
            if rows is not None:
                detail = f", {rows} bars on disk" + (f" ({new} new)" if new is not None else "")
            span = _summary_span(summary)
            self.out(f"ingest {sym}: done [{n}/{len(symbols)}]{detail}{span}")
        ok = len(symbols) - failed
        self.out(f"ingest finished: {ok}/{len(symbols)} symbol(s), {total} bars -> {dest}")

    # -- leaving -------------------------------------------------------------------------------------------------

    async def leave_warning(self) -> str:
        """What leaving now would stop or leave behind (asked on Ctrl-C at an empty prompt); '' when nothing."""
        parts = []
        running = sum(1 for w in self.watchers.values() if w.state not in FINISHED)
        if running:
            parts.append(f"{running} watcher{'s' if running > 1 else ''} stop{'s' if running == 1 else ''}")
        if self.tasks:
            parts.append(f"{len(self.tasks)} ingest{'s' if len(self.tasks) > 1 else ''} "
                         f"{'is' if len(self.tasks) == 1 else 'are'} cancelled")
        working = await self._working_orders()
        if working:
            verb = "stays" if working in ("1 order", "1 bracket") else "stay"
            parts.append(f"{working} {verb} working at TWS")
        if not parts:
            return ""
        return "; ".join(parts) + "; Ctrl-C again or `quit` to leave"

    async def _working_orders(self) -> str:
        """'2 brackets', '1 order', '1 bracket and 2 orders' ... for the account's open orders ('' if none)."""
        try:
            frame = await asyncio.wait_for(self.client.open_orders(), 3.0)
        except Exception:  # noqa: BLE001  (a question on the way out must not fail the exit)
            return ""
        if frame is None or not len(frame):
            return ""
        refs = frame["order_ref"].tolist() if "order_ref" in frame.columns else [""] * len(frame)
        legs: dict[str, int] = {}
        for ref in refs:
            if isinstance(ref, str) and ref:
                legs[ref] = legs.get(ref, 0) + 1
        brackets = sum(1 for n in legs.values() if n > 1)
        single = len(frame) - sum(n for n in legs.values() if n > 1)
        words = [f"{n} {what}{'s' if n > 1 else ''}" for n, what in ((brackets, "bracket"), (single, "order")) if n]
        return " and ".join(words)

    # -- shutdown ------------------------------------------------------------------------------------------------

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop every watcher and background task and wait for them (bounded), so nothing is left pending."""
        try:
            await self.watchlist.stop(None, forget=True, timeout=timeout)
        except asyncio.TimeoutError:
            pass
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


def _summary_value(summary: Any, column: str) -> int | None:
    """An integer column of a one-row ingest summary, or None when absent."""
    if summary is None or not hasattr(summary, "columns") or column not in summary.columns or not len(summary):
        return None
    try:
        return int(summary[column].sum())
    except (TypeError, ValueError):
        return None


def _summary_error(summary: Any) -> str:
    """The ingest summary's per-symbol error text ('' when it succeeded)."""
    if summary is None or not hasattr(summary, "columns") or "error" not in summary.columns:
        return ""
    errors = [one_line(e) for e in summary["error"].tolist() if isinstance(e, str) and e.strip()]
    return "; ".join(errors)


def _summary_span(summary: Any) -> str:
    """`, FIRST .. LAST` (New York time) from an ingest summary, or ''."""
    if summary is None or not hasattr(summary, "columns") or not len(summary):
        return ""
    if not {"first", "last"} <= set(summary.columns):
        return ""
    first, last = summary["first"].iloc[0], summary["last"].iloc[0]
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return ""
    return f", {format_time(first)} .. {format_time(last)}"
