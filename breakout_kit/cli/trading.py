"""The order and account commands of the CLI (``buy``, ``orders``, ``cancel``, ``positions``, ``account``).

``TradingCommands`` is a mixin of ``commands.Session``: it uses the session's ``client``, ``trading`` flag and
``_no_options`` / ``_require_trading`` helpers.
"""

from __future__ import annotations

from typing import Any

from breakout_kit.cli.format import Reply, format_frame, format_price
from breakout_kit.cli.parsing import CommandError, parse_float, parse_int, parse_symbol

# What `orders` / `positions` show of IBClient's frames (the rest is there for notebooks).
ORDER_COLUMNS = ["order_id", "symbol", "action", "type", "quantity", "limit", "stop", "status", "filled",
                 "parent_id", "order_ref"]
POSITION_COLUMNS = ["symbol", "position", "avg_cost", "market_price", "market_value", "unrealized_pnl"]


class TradingCommands:
    """Orders, positions and account commands (mixed into ``Session``)."""

    client: Any
    trading: bool
    _no_options: Any
    _require_trading: Any
    _usage_error: Any

    async def cmd_buy(self, positional, options) -> Reply:
        self._no_options(options, {"tp", "sl", "limit"})
        if len(positional) != 2 or "tp" not in options or "sl" not in options:
            raise self._usage_error("buy")
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
