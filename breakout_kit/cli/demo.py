"""``breakout-kit demo``: the headless main job.

Starts the embedded paper gateway at high speed, connects with trading enabled on its paper (DU) account, runs a
breakout watcher per symbol with a paper bracket on every signal, prints one ``SIGNAL`` line per breakout, and after
``--minutes`` simulated minutes stops everything and prints a summary table (signals, orders, fills, positions).
``--html PATH`` also writes a self-contained Plotly chart (bars, channel, signals) per symbol.

Defaults finish in about 15 s of real time: 45 simulated minutes at 300x (the gateway plants at least one 20-bar
up-breakout per symbol within the first 30 simulated minutes of live data).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from breakout_kit.cli.commands import format_table, one_line, parse_symbol, report_fills, signal_line
from breakout_kit.client.config import mask_account
from breakout_kit.connect import connect
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


async def main(args: argparse.Namespace) -> int:
    """Run the demo from parsed CLI args; returns the exit code."""
    from breakout_kit.cli import connect_args, install_stop_signals, printer

    symbols = [parse_symbol(s) for s in args.symbols.split(",") if s.strip()]
    if not symbols:
        raise ValueError("--symbols needs at least one symbol")
    if not args.minutes > 0:
        raise ValueError(f"--minutes must be > 0, got {args.minutes}")
    out = printer()
    stop = asyncio.Event()
    remove = install_stop_signals(stop)
    try:
        kwargs = connect_args(args, DEMO_SPEED, out, trading=True)
        client = await connect(**kwargs)
        try:
            await run_demo(client, symbols, minutes=args.minutes, speed=client.clock_speed, out=out, stop=stop,
                           html=args.html, lookback=args.lookback, qty=args.qty, tp=args.tp, sl=args.sl)
        finally:
            await client.disconnect()
    finally:
        remove()
    return 0


async def run_demo(client: Any, symbols: list[str], *, minutes: float, speed: float, out: Callable[[str], None],
                   stop: asyncio.Event | None = None, html: str | None = None, lookback: int = 20, qty: int = 10,
                   tp: float = 0.5, sl: float = 0.3) -> dict[str, Any]:
    """Watch ``symbols`` on a connected client (its server clock running at ``speed``) for ``minutes`` simulated
    minutes with paper brackets on signals.

    Prints SIGNAL lines and the summary; returns the summary numbers (for tests and callers).
    """
    stop = stop or asyncio.Event()
    out(f"demo: account {mask_account(client.account)}, {', '.join(symbols)}, {minutes:g} simulated minutes "
        f"(~{minutes * 60 / speed:.0f} s), bracket {qty} tp={tp:g}% sl={sl:g}% on each signal")
    watchlist = Watchlist(client, rule=BreakoutRule(lookback=lookback, trigger="close", direction="up"),
                          bar_size="1 min", trade=TradeSpec(qty, tp, sl))
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
    if html:
        write_html(list(watchlist), html)
        out(f"chart written to {html}")
    return summary


async def _summarize(client, watchlist: Watchlist) -> dict[str, Any]:
    """Per-symbol signals, orders, fills and position, plus totals."""
    positions = await client.positions()
    pos_by_sym: dict[str, float] = {}
    if positions is not None and len(positions):
        sym_col = "symbol" if "symbol" in positions.columns else None
        qty_col = next((c for c in ("position", "quantity", "qty") if c in positions.columns), None)
        if sym_col and qty_col:
            for sym, q in zip(positions[sym_col], positions[qty_col]):
                pos_by_sym[str(sym)] = pos_by_sym.get(str(sym), 0.0) + float(q)
    orders = client.trades()
    fills = client.executions()
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
            "error": one_line(str(w.error)) if w.error else (
                f"{len(refused)} refused, last: {one_line(refused[-1])}" if refused else ""),
        })
    totals = {k: sum(r[k] for r in rows) for k in ("signals", "brackets", "orders", "filled", "fills")}
    rows.append({"symbol": "TOTAL", "state": "", "bars": sum(r["bars"] for r in rows), **totals,
                 "position": f"{sum(pos_by_sym.values()):g}", "error": ""})
    table = "summary:\n" + format_table(rows, ["symbol", "state", "bars", "signals", "brackets", "orders",
                                               "filled", "fills", "position", "error"])
    return {"rows": rows, "table": table, **totals, "positions": pos_by_sym}


def write_html(watchers, path: str) -> None:
    """One candlestick panel per symbol with the breakout channel and signal markers, self-contained HTML."""
    from breakout_kit.notebook.plots import (
        write_watchers_html,  # the one breakout figure (lazy: plotly is heavy)
    )

    write_watchers_html(watchers, path)
