"""``breakout-kit demo``: the headless main job.

Starts the embedded paper gateway at high speed, connects with trading enabled on its paper (DU) account, runs a
breakout watcher per symbol with a paper bracket on every signal, prints one ``SIGNAL`` line per breakout, and after
``--minutes`` simulated minutes stops everything and prints a summary table (signals, orders, fills, positions,
realized and unrealized P&L) and the win rate of closed trades. ``--html PATH`` also writes a self-contained Plotly
chart (bars, channel, signals) per symbol; the path is checked before anything starts.

With ``--host/--port`` or ``IB_PORT`` it runs against your TWS / IB Gateway instead (real time, speed 1): watching
only, unless ``--trading`` allows brackets on that account. It exits 1 when every watcher failed.

Defaults finish in about 15 s of real time: 45 simulated minutes at 300x (the gateway plants at least one 20-bar
up-breakout per symbol within the first 30 simulated minutes of live data).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from breakout_kit.cli.commands import format_table, one_line, parse_symbol, report_fills, signal_line
from breakout_kit.client import limits
from breakout_kit.client.config import mask_account
from breakout_kit.connection import connect
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.watch.watcher import TradeSpec
from breakout_kit.watch.watchlist import Watchlist

DEFAULT_SYMBOLS = "AAPL,MSFT,NVDA,SPY,TSLA"
DEFAULT_MINUTES = 45.0
DEMO_SPEED = 300.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's own flags (the common ones --seed/--speed/--start/--client-id/--debug come from cli.py)."""
    parser.add_argument("--symbols", default=DEFAULT_SYMBOLS, help=f"comma-separated (default {DEFAULT_SYMBOLS})")
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                        help=f"simulated minutes of live data to watch (default {DEFAULT_MINUTES:g})")
    parser.add_argument("--html", default=None, metavar="PATH", help="also write a Plotly HTML chart here")
    parser.add_argument("--lookback", type=int, default=20, help="breakout channel length in bars (default 20)")
    parser.add_argument("--qty", type=int, default=10, help="shares per bracket (default 10)")
    parser.add_argument("--tp", type=float, default=0.5, help="take-profit percent (default 0.5)")
    parser.add_argument("--sl", type=float, default=0.3, help="stop-loss percent (default 0.3)")


def check_html_path(path: str) -> Path:
    """The ``--html`` target, checked before the run: a file path in an existing, writable directory."""
    target = Path(path).expanduser()
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ValueError(f"--html {path}: is a directory; give a file name, e.g. {target / 'demo.html'}")
    if not folder.is_dir():
        raise ValueError(f"--html {path}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ValueError(f"--html {path}: not writable")
    return target


def check_args(args: argparse.Namespace) -> list[str]:
    """Every flag checked before connecting (one ``ValueError`` line each); returns the symbols."""
    symbols = [parse_symbol(s) for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise ValueError("--symbols needs at least one symbol")
    if not (math.isfinite(args.minutes) and args.minutes > 0):
        raise ValueError(f"--minutes must be > 0, got {args.minutes}")
    limits.check_lookback(args.lookback)
    limits.check_quantity(args.qty, name="--qty")
    for name, value in (("--tp", args.tp), ("--sl", args.sl)):
        if not (math.isfinite(value) and 0 < value < 100):
            raise ValueError(f"{name} must be between 0 and 100 (exclusive), got {value:g}")
    if limits.far_stop(args.sl):
        raise ValueError(f"--sl {args.sl:g}: {limits.far_stop(args.sl)}")
    if args.html:
        check_html_path(args.html)
    return symbols


async def main(args: argparse.Namespace) -> int:
    """Run the demo from parsed CLI args; returns the exit code (1 when every watcher failed)."""
    from breakout_kit.cli import connect_args, install_stop_signals, printer, signal_exit_code, wants_embedded

    symbols = check_args(args)
    out = printer()
    embedded = wants_embedded(args)
    # The embedded gateway's paper account is the demo's own; your TWS account trades only with --trading.
    trading = True if embedded else bool(args.trading)
    stop = asyncio.Event()
    received: list[int] = []
    remove = install_stop_signals(stop, received)
    try:
        client = await connect(**connect_args(args, DEMO_SPEED, out, trading=trading))
        try:
            if not embedded:
                where = f"{client.settings.host}:{client.settings.port}"
                out(f"demo: on {where}, account {mask_account(client.account)}: " +
                    ("--trading: brackets are placed on this account" if trading else
                     "watching only, no orders (add --trading to place brackets on this account)"))
            summary = await run_demo(client, symbols, minutes=args.minutes, speed=client.clock_speed, out=out,
                                     stop=stop, html=args.html, lookback=args.lookback, qty=args.qty, tp=args.tp,
                                     sl=args.sl, trade=trading)
        finally:
            await client.disconnect()
    finally:
        remove()
    if received:
        return signal_exit_code(received)
    if summary["failed"] == len(symbols):
        print(f"error: every watcher failed ({summary['failed']} of {len(symbols)}; see the summary's error column)",
              file=sys.stderr, flush=True)
        return 1
    return 0


async def run_demo(client: Any, symbols: list[str], *, minutes: float, speed: float, out: Callable[[str], None],
                   stop: asyncio.Event | None = None, html: str | None = None, lookback: int = 20, qty: int = 10,
                   tp: float = 0.5, sl: float = 0.3, trade: bool = True) -> dict[str, Any]:
    """Watch ``symbols`` on a connected client (its server clock running at ``speed``) for ``minutes`` simulated
    minutes with paper brackets on signals (``trade=False``: signals only).

    Prints SIGNAL lines and the summary; returns the summary numbers (for tests and callers).
    """
    stop = stop or asyncio.Event()
    plan = f"bracket {qty} tp={tp:g}% sl={sl:g}% on each signal" if trade else "no orders"
    out(f"demo: account {mask_account(client.account)}, {', '.join(symbols)}, {minutes:g} simulated minutes "
        f"(~{minutes * 60 / speed:.0f} s), {plan}")
    watchlist = Watchlist(client, rule=BreakoutRule(lookback=lookback, trigger="close", direction="up"),
                          bar_size="1 min", trade=TradeSpec(qty, tp, sl) if trade else None)
    watchlist.live_signal_event += lambda watcher, sig: out(signal_line(watcher.symbol, sig))
    unhook_fills = report_fills(client, out)
    for s in symbols:
        watchlist.start(s)
    try:
        # The job's length is simulated time: `minutes` on the gateway clock, or until Ctrl-C / SIGTERM.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), minutes * 60.0 / speed)
    finally:
        unhook_fills()
        await watchlist.aclose(timeout=10)
    summary = await _summarize(client, watchlist)
    out(summary["table"])
    out(summary["pnl_line"])
    if html:
        write_html(list(watchlist), html)
        out(f"chart written to {html}")
    return summary


async def _summarize(client, watchlist: Watchlist) -> dict[str, Any]:
    """Per-symbol signals, orders, fills, position and P&L, plus totals and the win rate."""
    positions = await client.positions()
    pos_by_sym: dict[str, float] = {}
    unrealized: dict[str, float] = {}
    if positions is not None and len(positions) and "symbol" in positions.columns:
        qty_col = next((c for c in ("position", "quantity", "qty") if c in positions.columns), None)
        for n, sym in enumerate(positions["symbol"]):
            sym = str(sym)
            if qty_col:
                pos_by_sym[sym] = pos_by_sym.get(sym, 0.0) + float(positions[qty_col].iloc[n])
            if "unrealized_pnl" in positions.columns:
                unrealized[sym] = unrealized.get(sym, 0.0) + float(positions["unrealized_pnl"].iloc[n])
    orders = client.trades()
    fills = client.executions()
    realized, wins, closed = realized_pnl(fills)
    rows = []
    live = watchlist.live_signals
    for w in watchlist:
        sym_orders = [o for o in orders if o.symbol == w.symbol]
        refused = list(getattr(w, "trade_errors", []))
        rows.append({
            "symbol": w.symbol, "state": w.state, "bars": w.bars_seen, "signals": live.get(w.symbol, 0),
            "brackets": len(getattr(w, "orders", [])), "orders": len(sym_orders),
            "filled": sum(1 for o in sym_orders if o.status == "Filled"),
            "fills": int((fills["symbol"] == w.symbol).sum()),
            "position": f"{pos_by_sym.get(w.symbol, 0.0):g}",
            "realized": realized.get(w.symbol, 0.0), "unrealized": unrealized.get(w.symbol, 0.0),
            "error": one_line(str(w.error)) if w.error else (
                f"{len(refused)} refused, last: {one_line(refused[-1])}" if refused else ""),
        })
    totals = {k: sum(r[k] for r in rows) for k in ("signals", "brackets", "orders", "filled", "fills")}
    money = {k: math.fsum(r[k] for r in rows if math.isfinite(r[k])) for k in ("realized", "unrealized")}
    rows.append({"symbol": "TOTAL", "state": "", "bars": sum(r["bars"] for r in rows), **totals,
                 "position": f"{sum(pos_by_sym.values()):g}", **money, "error": ""})
    shown = [{**r, "realized": _money(r["realized"]), "unrealized": _money(r["unrealized"])} for r in rows]
    table = "summary:\n" + format_table(shown, ["symbol", "state", "bars", "signals", "brackets", "orders",
                                                "filled", "fills", "position", "realized", "unrealized", "error"])
    rate = f"{wins}/{closed} closed trades won ({100.0 * wins / closed:.0f}%)" if closed else "no closed trades"
    pnl_line = (f"P&L: realized {_money(money['realized'])}, unrealized {_money(money['unrealized'])} "
                f"(before commissions); win rate: {rate}")
    failed = sum(1 for w in watchlist if w.state == "failed")
    return {"rows": rows, "table": table, **totals, **money, "positions": pos_by_sym, "wins": wins,
            "closed": closed, "pnl_line": pnl_line, "failed": failed}


def realized_pnl(fills) -> tuple[dict[str, float], int, int]:
    """Realized P&L per symbol from executions (first in, first out; long and short), and the number of closing
    fills that made money and of closing fills in all (the win rate)."""
    lots: dict[str, list[list[float]]] = {}     # symbol -> open lots [signed shares, price]
    realized: dict[str, float] = {}
    wins = closed = 0
    if fills is None or not len(fills):
        return realized, wins, closed
    for f in fills.sort_values("time").itertuples():
        sign = 1.0 if str(f.side).upper() in ("BOT", "BUY") else -1.0
        left, price, sym = float(f.shares), float(f.price), str(f.symbol)
        book = lots.setdefault(sym, [])
        gain = 0.0
        closing = False
        while left > 0 and book and book[0][0] * sign < 0:   # this fill closes (part of) the oldest lot
            lot = book[0]
            take = min(left, abs(lot[0]))
            gain += take * (price - lot[1]) * (1.0 if lot[0] > 0 else -1.0)
            lot[0] += take * sign
            left -= take
            closing = True
            if abs(lot[0]) < 1e-9:
                book.pop(0)
        if left > 0:
            book.append([left * sign, price])
        if closing:
            realized[sym] = realized.get(sym, 0.0) + gain
            closed += 1
            wins += gain > 0
    return realized, wins, closed


def _money(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:+,.2f}"


def write_html(watchers, path: str) -> None:
    """One candlestick panel per symbol with the breakout channel and signal markers, self-contained HTML."""
    from breakout_kit.notebook.plots import (
        write_watchers_html,  # the one breakout figure (lazy: plotly is heavy)
    )

    write_watchers_html(watchers, path)
