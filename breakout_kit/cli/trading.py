"""The order and account commands of the CLI: ``buy``, ``sell``, ``flatten``, ``orders``, ``cancel``, ``positions``,
``pnl``, ``account``.

Limits come from ``client.limits`` (the same numbers and words as IBClient and the demo). Values far from the market
(a stop more than ``FAR_STOP_PCT`` % away, a limit more than ``FAR_LIMIT_PCT`` % from the last price) are not sent:
the reply is a ``warning:`` line, and ``force=1`` (or ``--force``) places the order anyway. ``sell`` only closes
what you hold, minus what working SELL orders (a bracket's exits) would already sell, unless ``short=1``.
Every order a command places carries a fresh idempotency key (``orderRef`` ``bk-cli-<8 hex>``, shown by ``orders``
and on ``FILL`` lines): the client never sends one command's order twice, even across a dropped connection.

``TradingCommands`` is a mixin of ``commands.Console``: it uses the session's ``client``, ``trading`` flag and
``_no_options`` / ``_require_trading`` helpers.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from breakout_kit.cli.format import Reply, format_frame, format_price
from breakout_kit.cli.parsing import CommandError, parse_flag, parse_float, parse_int, parse_symbol
from breakout_kit.client import limits
from breakout_kit.client.orders import new_order_ref

# What `orders` / `positions` show of IBClient's frames (the rest is there for notebooks).
ORDER_COLUMNS = ["order_id", "symbol", "action", "type", "quantity", "limit", "stop", "status", "filled",
                 "parent_id", "order_ref"]
POSITION_COLUMNS = ["symbol", "position", "avg_cost", "market_price", "market_value", "unrealized_pnl"]


class TradingCommands:
    """Orders, positions and account commands (mixed into ``Console``)."""

    client: Any
    trading: bool
    _no_options: Any
    _require_trading: Any
    _usage_error: Any

    # -- helpers -------------------------------------------------------------------------------------------------

    @property
    def max_quantity(self) -> int:
        """The client's per-order share limit (``limits.MAX_QUANTITY`` unless the client was made with another)."""
        return int(getattr(self.client, "max_quantity", limits.MAX_QUANTITY))

    def _quantity(self, text: str) -> int:
        try:
            qty = int(text)
        except ValueError:
            raise CommandError(f"quantity must be a positive whole number of shares, got {text!r}") from None
        try:
            return limits.check_quantity(qty, self.max_quantity)
        except limits.LimitError as e:
            raise CommandError(str(e)) from None

    async def _far_limit(self, symbol: str, limit: float) -> str | None:
        """The far-from-market warning for a limit price, or None (also when no last price is known)."""
        reference = getattr(self.client, "reference_price", None)
        if reference is None:
            return None
        try:
            last = await reference(symbol)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (no price known: TWS checks the order itself)
            return None
        return limits.far_limit(limit, last)

    @staticmethod
    def _unless_forced(warnings: list[str | None], force: bool) -> Reply | None:
        warnings = [w for w in warnings if w]
        if not warnings or force:
            return None
        return Reply("warning: " + "; ".join(warnings) + ": nothing sent (add force=1 to place it anyway)")

    async def _open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        frame = await self.client.open_orders()
        if frame is None or not len(frame):
            return []
        rows = frame.to_dict("records")
        return [r for r in rows if symbol is None or r.get("symbol") == symbol]

    async def _held(self) -> dict[str, float]:
        frame = await self.client.positions()
        held: dict[str, float] = {}
        if frame is not None and len(frame):
            for sym, qty in zip(frame["symbol"], frame["position"]):
                held[str(sym)] = held.get(str(sym), 0.0) + float(qty)
        return held

    @staticmethod
    def _selling(orders: list[dict[str, Any]]) -> float:
        """Shares the working SELL orders would sell; a bracket's two exits (one cancels the other) count once."""
        by_group: dict[Any, float] = {}
        for o in orders:
            if str(o.get("action", "")).upper() != "SELL":
                continue
            left = float(o.get("quantity") or 0) - float(o.get("filled") or 0)
            group = o.get("parent_id") or o.get("order_id")
            by_group[group] = max(by_group.get(group, 0.0), left)
        return sum(by_group.values())

    # -- commands ------------------------------------------------------------------------------------------------

    async def cmd_buy(self, positional, options) -> Reply:
        self._no_options(options, {"tp", "sl", "limit", "force"})
        if len(positional) != 2 or "tp" not in options or "sl" not in options:
            raise self._usage_error("buy")
        self._require_trading()
        symbol = parse_symbol(positional[0])
        qty = self._quantity(positional[1])
        tp = parse_float("tp", options["tp"], low=0.0, high=100.0)
        sl = parse_float("sl", options["sl"], low=0.0, high=100.0)
        force = parse_flag("force", options.get("force", "0"))
        entry: Any = "market"
        warnings = [limits.far_stop(sl)]
        if "limit" in options:
            entry = parse_float("limit", options["limit"], low=0.0)
            if not force:
                warnings.append(await self._far_limit(symbol, entry))
        refusal = self._unless_forced(warnings, force)
        if refusal is not None:
            return refusal
        bracket = await self.client.place_buy_bracket_pct_async(symbol, qty, tp, sl, entry=entry,
                                                                order_ref=new_order_ref("bk-cli"),
                                                                **({"force": True} if force else {}))
        parts = []
        for label, o in zip(("parent", "take-profit", "stop-loss"), bracket):
            price_txt = "" if o.type == "MKT" else f" {format_price(o.price)}"
            parts.append(f"{label} #{o.order_id} {o.action} {o.type}{price_txt}")
        return Reply(f"bracket {symbol} x{qty}: " + ", ".join(parts))

    async def cmd_sell(self, positional, options) -> Reply:
        self._no_options(options, {"limit", "short", "force"})
        if len(positional) != 2:
            raise self._usage_error("sell")
        self._require_trading()
        symbol = parse_symbol(positional[0])
        qty = self._quantity(positional[1])
        short = parse_flag("short", options.get("short", "0"))
        force = parse_flag("force", options.get("force", "0"))
        limit = parse_float("limit", options["limit"], low=0.0) if "limit" in options else None
        if limit is not None:
            refusal = self._unless_forced([None if force else await self._far_limit(symbol, limit)], force)
            if refusal is not None:
                return refusal
        if not short:
            held = (await self._held()).get(symbol, 0.0)
            covered = self._selling(await self._open_orders(symbol))
            free = max(held - covered, 0.0)
            if held < 0:
                raise CommandError(f"you are short {-held:g} {symbol}: sell only closes a long position (buy to "
                                   f"cover, or add short=1 to sell more short)")
            if held == 0:
                raise CommandError(f"you hold no {symbol} to sell: sell only closes a long position "
                                   f"(add short=1 to sell short)")
            if qty > free:
                why = (f"you hold {held:g} {symbol}" if not covered else
                       f"you hold {held:g} {symbol} and working SELL orders already cover {min(covered, held):g}")
                hint = f"sell at most {free:g}, " if free else f"flatten {symbol} cancels them and sells; "
                raise CommandError(f"{why}: selling {qty} could go short ({hint}or add short=1 to sell short)")
        order = await self.client.place_order_async(symbol, "SELL", qty, limit=limit, order_ref=new_order_ref("bk-cli"),
                                                    **({"force": True} if force else {}))
        price = "at market" if limit is None else f"limit {format_price(order.price)}"
        return Reply(f"sell {symbol} x{qty} {price}: order #{order.order_id} {order.status}")

    async def cmd_flatten(self, positional, options) -> Reply:
        self._no_options(options)
        if len(positional) != 1:
            raise self._usage_error("flatten")
        self._require_trading()
        orders = await self._open_orders()
        held = await self._held()
        if positional[0].lower() == "all":
            symbols = sorted({str(o.get("symbol")) for o in orders} | {s for s, q in held.items() if q})
            if not symbols:
                return Reply("flatten all: no open orders and no positions")
        else:
            symbols = [parse_symbol(positional[0])]
        lines = [await self._flatten(sym, [o for o in orders if o.get("symbol") == sym]) for sym in symbols]
        return Reply("\n".join(lines))

    async def _flatten(self, symbol: str, orders: list[dict[str, Any]]) -> str:
        """Cancel ``symbol``'s open orders (waiting for TWS), then close what is held at market."""
        gone: set[int] = set()
        problems = []
        for o in sorted(orders, key=lambda o: o.get("parent_id") or 0):   # parents first: children go with them
            if (o.get("parent_id") or 0) in gone:
                continue
            try:
                await self.client.cancel_order(int(o["order_id"]))
                gone.add(int(o["order_id"]))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001  (e.g. another client's order: reported below)
                problems.append(f"#{o['order_id']}: {e}")
        left = await self._open_orders(symbol)
        cancelled = len(orders) - len(left)
        position = (await self._held()).get(symbol, 0.0)
        done = [f"cancelled {cancelled} order{'s' if cancelled != 1 else ''}"]
        if position:
            action, qty = ("SELL", position) if position > 0 else ("BUY", -position)
            if not math.isclose(qty, round(qty)):
                raise CommandError(f"flatten {symbol}: position {position:g} is not a whole number of shares")
            order = await self.client.place_order_async(symbol, action, round(qty), order_ref=new_order_ref("bk-cli"))
            done.append(f"{'sold' if action == 'SELL' else 'bought'} {qty:g} at market "
                        f"(order #{order.order_id} {order.status})")
        else:
            done.append("no position")
        if left:
            done.append(f"{len(left)} order{'s' if len(left) != 1 else ''} still open "
                        f"({'; '.join(problems) or 'not ours to cancel'})")
        return f"flatten {symbol}: " + ", ".join(done)

    async def cmd_orders(self, positional, options) -> Reply:
        self._no_options(options)
        return Reply(format_frame(await self.client.open_orders(), "no open orders", ORDER_COLUMNS))

    async def cmd_cancel(self, positional, options) -> Reply:
        self._no_options(options)
        if len(positional) != 1:
            raise self._usage_error("cancel")
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

    async def cmd_pnl(self, positional, options) -> Reply:
        self._no_options(options)
        if positional:
            raise self._usage_error("pnl")
        p = await self.client.pnl()
        return Reply(f"P&L today: daily {_signed(p.get('daily'))}, unrealized {_signed(p.get('unrealized'))}, "
                     f"realized {_signed(p.get('realized'))}")

    async def cmd_account(self, positional, options) -> Reply:
        self._no_options(options)
        if len(positional) > 1 or (positional and positional[0].lower() != "all"):
            raise self._usage_error("account")
        frame = await self.client.account_summary()
        if not positional and frame is not None and len(frame) and "tag" in frame.columns:
            short = frame[frame["tag"].isin(ACCOUNT_SHORT)]
            if len(short):
                order = {tag: n for n, tag in enumerate(ACCOUNT_SHORT)}
                frame = short.sort_values("tag", key=lambda tags: tags.map(order))
                return Reply(format_frame(frame, "no account values") + "\n(account all: every value)")
        return Reply(format_frame(frame, "no account values"))


# What plain `account` shows; `account all` shows every tag TWS sends.
ACCOUNT_SHORT = ["NetLiquidation", "TotalCashValue", "BuyingPower", "AvailableFunds", "GrossPositionValue",
                 "UnrealizedPnL", "RealizedPnL"]


def _signed(value: Any) -> str:
    """+12.30 / -3.10 / - (unknown)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if not math.isfinite(v) else f"{v:+,.2f}"
