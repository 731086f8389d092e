"""The one place that decides which IB client library breakout_kit talks through.

ib_insync (the default, as the user asked) and its maintained fork ib_async expose the same API under different
package names. Everything else in breakout_kit imports IB names from here, never from either library directly.
Choose explicitly with env ``BREAKOUT_KIT_IB=ib_insync|ib_async``; otherwise the installed one is used.
"""

from __future__ import annotations

import importlib
import os

CHOICES = ("ib_insync", "ib_async")


def _choose():
    wanted = os.environ.get("BREAKOUT_KIT_IB", "").strip()
    if wanted:
        if wanted not in CHOICES:
            raise ImportError(f"BREAKOUT_KIT_IB={wanted!r} is not one of {', '.join(CHOICES)}")
        return importlib.import_module(wanted)
    for name in CHOICES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError('breakout_kit needs ib_insync or ib_async: pip install -e ".[dev]" (or ".[ib_async]")')


lib = _choose()
NAME: str = lib.__name__

IB = lib.IB
Contract = lib.Contract
Stock = lib.Stock
Order = lib.Order
LimitOrder = lib.LimitOrder
MarketOrder = lib.MarketOrder
StopOrder = lib.StopOrder
Trade = lib.Trade
BarData = lib.BarData
RealTimeBar = lib.RealTimeBar
util = lib.util
RequestError = importlib.import_module(f"{NAME}.wrapper").RequestError

__all__ = [
    "NAME", "IB", "Contract", "Stock", "Order", "LimitOrder", "MarketOrder", "StopOrder", "Trade",
    "BarData", "RealTimeBar", "util", "RequestError", "lib",
]
