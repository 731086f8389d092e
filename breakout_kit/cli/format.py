"""How the CLI shows things: one-line errors, plain tables, prices, New York times, SIGNAL and FILL lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

Printer = Callable[[str], None]


@dataclass
class Reply:
    """What one command line produced: text to print (may be empty or multi-line) and whether to quit."""

    text: str = ""
    quit: bool = False


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
