"""The CLI's command language: parsing, the command table and the dispatcher.

Everything here runs on the one event loop and never blocks it. ``Console.execute(line)`` turns one input line into
a ``Reply`` (text to print, and whether to quit); it never raises for bad input: every failure becomes exactly one
``error: ...`` line. Long work (watchers, ingest) runs as tasks the session owns, and ``Console.aclose()`` ends them.

The session only talks to the client through the pinned IBClient API and builds watchers through a factory, so tests
can drive it in-process with small fakes.
"""

from __future__ import annotations

import asyncio
import math
import re
import shlex
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from breakout_kit.client.ingest import ingest
from breakout_kit.core import bars
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec
from breakout_kit.watch.watchlist import FINISHED, Watchlist

Printer = Callable[[str], None]

# What `orders` / `positions` show of IBClient's frames (the rest is there for notebooks).
ORDER_COLUMNS = ["order_id", "symbol", "action", "type", "quantity", "limit", "stop", "status", "filled",
                 "parent_id", "order_ref"]
POSITION_COLUMNS = ["symbol", "position", "avg_cost", "market_price", "market_value", "unrealized_pnl"]

_SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.]{0,11}$")


class CommandError(ValueError):
    """Bad input for a command; its message is shown as ``error: <message>``."""


@dataclass
class Reply:
    """What one command line produced: text to print (may be empty or multi-line) and whether to quit."""

    text: str = ""
    quit: bool = False


# ---------------------------------------------------------------------------------------------------------------
# Parsing helpers (pure functions, tested directly)
# ---------------------------------------------------------------------------------------------------------------

def split_args(tokens: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split tokens into positionals and ``key=value`` options (keys lower-cased).

    A bare duration unit right after ``duration=N`` is glued back on, so ``duration=5 D`` works unquoted.
    Repeating a key is an error.
    """
    positional: list[str] = []
    options: dict[str, str] = {}
    last_key = None
    for tok in tokens:
        if "=" in tok:
            key, _, value = tok.partition("=")
            key = key.strip().lower()
            if not key:
                raise CommandError(f"bad option {tok!r} (expected key=value)")
            if key in options:
                raise CommandError(f"option {key!r} given twice")
            options[key] = value.strip()
            last_key = key
        elif last_key == "duration" and re.fullmatch(r"[SDWMYsdwmy]", tok) and options["duration"].isdigit():
            options["duration"] += " " + tok
            last_key = None
        else:
            positional.append(tok)
            last_key = None
    return positional, options


def parse_symbol(text: str) -> str:
    """An upper-cased ticker like ``AAPL`` or ``BRK.B``; anything else is a CommandError."""
    sym = text.strip().upper()
    if not _SYMBOL_RE.match(sym):
        raise CommandError(f"bad symbol {text!r}")
    return sym


def parse_float(name: str, text: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = True) -> float:
    """A finite float for option ``name`` within (low, high); a CommandError names the option otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CommandError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise CommandError(f"{name} must be a finite number, got {text!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise CommandError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {text}")
    if high is not None and value >= high:
        raise CommandError(f"{name} must be < {high:g}, got {text}")
    return value


def parse_int(name: str, text: str, *, low: int = 1, high: int | None = None) -> int:
    """An integer for option ``name`` in [low, high]."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise CommandError(f"{name} must be a whole number, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise CommandError(f"{name} must be {bound}, got {value}")
    return value


def parse_bar_size(text: str, *, live: bool = False) -> str:
    """``5m`` / ``30s`` / ``1h`` / ``1d`` / ``5 mins`` -> IB's barSizeSetting (``live``: one a watcher can build)."""
    try:
        return bars.live_bar_size(text) if live else bars.bar_size(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def parse_duration(text: str) -> str:
    """``5 D`` / ``5D`` / ``2w`` -> IB durationStr ``5 D``."""
    try:
        return bars.duration(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def one_line(text: str) -> str:
    """Collapse any message to a single line (errors must never span lines)."""
    return " ".join(str(text).split())


def error_line(exc: BaseException) -> str:
    """``error: <message>`` for an exception, naming its type when the message is empty."""
    msg = one_line(str(exc)) or type(exc).__name__
    return f"error: {msg}"


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain fixed-width text table (no pandas needed, stable for tests)."""
    cells = [[str(c) for c in columns]] + [["" if r.get(c) is None else str(r.get(c)) for c in columns]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def format_frame(df: Any, empty: str, columns: list[str] | None = None) -> str:
    """A DataFrame as a plain text table (``columns`` first, when present); ``empty`` when it has no rows.

    Missing values show as ``-`` and floats without noise (10.0 -> 10, 240.1100000001 -> 240.11)."""
    if df is None or getattr(df, "empty", False) or (hasattr(df, "__len__") and len(df) == 0):
        return empty
    if not hasattr(df, "to_string"):
        return str(df)
    if columns and hasattr(df, "columns"):
        keep = [c for c in columns if c in df.columns]
        if keep:
            df = df[keep]
    try:
        return df.to_string(index=False, na_rep="-", float_format=format_price)
    except TypeError:
        return df.to_string()


DISPLAY_TZ = ZoneInfo("America/New_York")  # the exchange clock of the US stocks/ETFs the kit watches


def format_time(t: Any) -> str:
    """A bar time as ISO text in New York time (datetime or pandas Timestamp; naive times are shown as given)."""
    if t is None:
        return "-"
    if getattr(t, "tzinfo", None) is not None:
        t = t.astimezone(DISPLAY_TZ)
    iso = getattr(t, "isoformat", None)
    return iso() if iso else str(t)


def format_price(value: Any) -> str:
    """A price with up to 4 decimals and no float noise: 101.25 -> '101.25', 100.0 -> '100'."""
    try:
        return f"{round(float(value), 4):.12g}"
    except (TypeError, ValueError):
        return str(value)


def signal_line(symbol: str, signal: Any) -> str:
    """The one ``SIGNAL`` line printed per breakout: symbol, direction, bar time, price, level."""
    return (f"SIGNAL {symbol} {signal.direction} {format_time(signal.time)} "
            f"price={format_price(signal.price)} level={format_price(signal.level)}")


def fill_line(ex: Any) -> str:
    """One ``FILL`` line per execution (``IBClient.fill_event``): symbol, side, shares, price, order id, orderRef."""
    return (f"FILL {ex.symbol} {ex.side} {format_price(ex.shares)} @ {format_price(ex.price)} "
            f"order #{ex.order_id}" + (f" {ex.order_ref}" if ex.order_ref else ""))


def report_fills(client: Any, out: Printer) -> Callable[[], None]:
    """Print a FILL line for every live execution on ``client``'s connection; returns a function that unhooks it."""
    def on_fill(execution) -> None:
        out(fill_line(execution))
    client.fill_event += on_fill
    return lambda: client.fill_event.disconnect(on_fill)


# ---------------------------------------------------------------------------------------------------------------
# The command table
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Command:
    """One command: its name, aliases, a usage line, and the coroutine method that runs it."""

    name: str
    usage: str
    summary: str
    handler: str
    aliases: tuple[str, ...] = ()


COMMANDS: list[Command] = [
    Command("help", "help", "list the commands (also: ?, menu)", "cmd_help", ("?", "menu")),
    Command("breakout", "breakout SYMBOL [lookback=20] [bar=1m] [trigger=close|high] [direction=up|down|both] "
            "[vol=X] [trade=QTY tp=PCT sl=PCT]", "watch SYMBOL for breakouts (runs in the background)",
            "cmd_breakout", ("watch",)),
    Command("watchers", "watchers", "table of watchers: state, last bar/price, live signals, brackets, error",
            "cmd_watchers", ("status",)),
    Command("stop", "stop SYMBOL|all", "stop one watcher or all of them", "cmd_stop"),
    Command("buy", "buy SYMBOL QTY tp=PCT sl=PCT [limit=PRICE]", "place a bracket order (needs --trading)",
            "cmd_buy"),
    Command("orders", "orders", "list open orders", "cmd_orders"),
    Command("cancel", "cancel ID|all", "cancel one order or all open orders", "cmd_cancel"),
    Command("positions", "positions", "list positions", "cmd_positions"),
    Command("account", "account", "account summary", "cmd_account"),
    Command("ingest", "ingest SYMBOL[,SYMBOL...] [duration=5 D] [bar=1m] [dest=data/]",
            "download history to Parquet in the background", "cmd_ingest"),
    Command("symbols", "symbols [PATTERN]", "look up symbols", "cmd_symbols"),
    Command("quit", "quit", "stop everything and exit (also: exit, Ctrl-D)", "cmd_quit", ("exit", "q")),
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
    lines = ["commands (type the name or its number):"]
    for number, cmd in enumerate(COMMANDS, start=1):
        lines.append(f"  {number:>2}. {cmd.usage}")
        lines.append(f"      {cmd.summary}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------------------------

WatcherFactory = Callable[..., Any]


async def _default_ingest(client, symbols, duration, bar_size, dest):
    # progress=False: a tqdm bar on stderr would fight the prompt; the session prints a line per symbol instead.
    return await ingest(client, symbols, duration, bar_size, dest=dest, progress=False)


@dataclass
class Console:
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

    def _require_trading(self) -> None:
        if not self.trading:
            raise CommandError("trading is disabled (start with --trading to place paper orders)")

    # -- commands ------------------------------------------------------------------------------------------------

    async def cmd_help(self, positional, options) -> Reply:
        return Reply(help_text())

    async def cmd_quit(self, positional, options) -> Reply:
        return Reply("bye", quit=True)

    async def cmd_breakout(self, positional, options) -> Reply:
        if len(positional) != 1:
            raise CommandError("usage: " + COMMAND_INDEX["breakout"].usage)
        self._no_options(options, {"lookback", "bar", "trigger", "direction", "vol", "trade", "tp", "sl"})
        symbol = parse_symbol(positional[0])
        current = self.watchers.get(symbol)
        if current is not None and current.state not in FINISHED:
            raise CommandError(f"already watching {symbol} (stop {symbol} first)")
        lookback = parse_int("lookback", options.get("lookback", "20"), low=1, high=10_000)
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
            qty = parse_int("trade", options["trade"], low=1, high=1_000_000)
            tp = parse_float("tp", options["tp"], low=0.0, high=100.0)
            sl = parse_float("sl", options["sl"], low=0.0, high=100.0)
            trade = self.trade_factory(qty, tp, sl)
        rule = self.rule_factory(lookback=lookback, trigger=trigger, direction=direction, min_rel_volume=vol)
        # unknown symbols fail in add(), as one line, before any task starts
        await self.watchlist.add(symbol, rule=rule, bar_size=bar_size, trade=trade)
        extra = f", bracket {qty} on each signal tp={tp:g}% sl={sl:g}%" if trade is not None else ""
        return Reply(f"watching {symbol}: {lookback}-bar {trigger} breakout {direction} on {bar_size} bars{extra}")

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

    async def cmd_buy(self, positional, options) -> Reply:
        self._no_options(options, {"tp", "sl", "limit"})
        if len(positional) != 2 or "tp" not in options or "sl" not in options:
            raise CommandError("usage: " + COMMAND_INDEX["buy"].usage)
        self._require_trading()
        symbol = parse_symbol(positional[0])
        qty = parse_int("QTY", positional[1], low=1, high=1_000_000)
        tp = parse_float("tp", options["tp"], low=0.0, high=100.0)
        sl = parse_float("sl", options["sl"], low=0.0, high=100.0)
        entry: Any = "market"
        if "limit" in options:
            entry = parse_float("limit", options["limit"], low=0.0)
        bracket = await self.client.place_buy_bracket_pct_async(symbol, qty, tp, sl, entry=entry)
        parts = []
        for label, o in zip(("parent", "take-profit", "stop-loss"), bracket):
            price_txt = "" if o.type == "MKT" else f" {format_price(o.price)}"
            parts.append(f"{label} #{o.order_id} {o.action} {o.type}{price_txt}")
        return Reply(f"bracket {symbol} x{qty}: " + ", ".join(parts))

    async def cmd_orders(self, positional, options) -> Reply:
        self._no_options(options)
        return Reply(format_frame(await self.client.open_orders(), "no open orders", ORDER_COLUMNS))

    async def cmd_cancel(self, positional, options) -> Reply:
        self._no_options(options)
        if len(positional) != 1:
            raise CommandError("usage: cancel ID|all")
        if positional[0].lower() == "all":
            self._require_trading()
            count = await self.client.cancel_all_orders()  # waits until TWS confirms
            return Reply(f"cancelled {count} open order(s)")
        order_id = parse_int("ID", positional[0], low=1)
        self._require_trading()
        order = await self.client.cancel_order(order_id)  # waits until TWS confirms
        return Reply(f"order #{order_id}: {order.status}")

    async def cmd_positions(self, positional, options) -> Reply:
        self._no_options(options)
        return Reply(format_frame(await self.client.positions(), "no positions", POSITION_COLUMNS))

    async def cmd_account(self, positional, options) -> Reply:
        self._no_options(options)
        return Reply(format_frame(await self.client.account_summary(), "no account values"))

    async def cmd_symbols(self, positional, options) -> Reply:
        self._no_options(options)
        if len(positional) > 1:
            raise CommandError("usage: symbols [PATTERN]")
        pattern = positional[0] if positional else "A"
        found = await self.client.matching_symbols(pattern)
        return Reply(" ".join(found) if found else f"no symbols match {pattern!r}")

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
