"""The one place that decides which IB client library breakout_kit talks through.

ib_insync (the default, as the user asked) and its maintained fork ib_async expose the same API under different
package names. Everything else in breakout_kit imports IB names from here, never from either library (or from
``eventkit``, which ib_insync gets from the ``eventkit`` distribution and ib_async from ``aeventkit``) directly.
Choose explicitly with env ``BREAKOUT_KIT_IB=ib_insync|ib_async``; otherwise the installed one is used (ib_insync
first). The two libraries' event packages clash in one environment: install one per venv (README, "Choosing the
client library").
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

#: Supported client libraries, in the order they are tried when ``BREAKOUT_KIT_IB`` is unset.
CHOICES = ("ib_insync", "ib_async")
ENV = "BREAKOUT_KIT_IB"

_INSTALL = {
    "ib_insync": 'pip install -e ".[dev]"',
    "ib_async": "see README.md, 'Choosing the client library'",
}


def choose(wanted: str | None = None) -> ModuleType:
    """Import and return the client library: ``wanted`` (a name from ``CHOICES``), else the first installed one.

    Raises ``ImportError`` with a one-line reason for an unknown name, a named library that is not installed,
    a library whose ``eventkit`` was removed (uninstalling one of eventkit/aeventkit deletes the other's files),
    or no library at all.
    """
    wanted = (wanted or "").strip()
    if wanted and wanted not in CHOICES:
        raise ImportError(f"{ENV}={wanted!r} is not one of {', '.join(CHOICES)}")
    broken = []
    for name in [wanted] if wanted else CHOICES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == "eventkit":        # installed, but its event package is gone (the eventkit clash)
                broken.append(name)
            elif e.name != name:
                raise
    if broken:
        raise ImportError(f"{broken[0]} is installed but its module eventkit is missing: "
                          f"pip install --force-reinstall {broken[0]}")
    if wanted:
        raise ImportError(f"{ENV}={wanted} but {wanted} is not installed in this environment ({_INSTALL[wanted]})")
    raise ImportError(f"breakout_kit needs ib_insync or ib_async: {_INSTALL['ib_insync']} "
                      f"(for ib_async: {_INSTALL['ib_async']})")


lib = choose(os.environ.get(ENV))
NAME: str = lib.__name__
# The kit reports every IB error itself, once, in its own words (exceptions, error_event, the panel's error area,
# the CLI's error lines). With no handler anywhere, the library's records would reach Python's last-resort handler
# and print a raw second copy under each (red stderr text in a notebook). A NullHandler stops only that: whoever
# configures logging (logging.basicConfig, the CLI's --debug) still gets every record through propagation.
logging.getLogger(NAME).addHandler(logging.NullHandler())
#: The library's version string, e.g. "0.9.86" or "2.1.0".
VERSION: str = getattr(lib, "__version__", "")

IB = lib.IB
Contract = lib.Contract
Stock = lib.Stock
Forex = lib.Forex
Future = lib.Future
ContFuture = lib.ContFuture
Index = lib.Index
Order = lib.Order
LimitOrder = lib.LimitOrder
MarketOrder = lib.MarketOrder
StopOrder = lib.StopOrder
Trade = lib.Trade
BarData = lib.BarData
RealTimeBar = lib.RealTimeBar
ScannerSubscription = lib.ScannerSubscription
TagValue = lib.TagValue
#: eventkit's Event class, as the chosen library uses it (``ib.updateEvent`` etc. are instances of it).
Event = lib.Event
util = lib.util
RequestError = importlib.import_module(f"{NAME}.wrapper").RequestError

__all__ = [
    "CHOICES", "ENV", "IB", "NAME", "VERSION", "BarData", "ContFuture", "Contract", "Event", "Forex", "Future",
    "Index", "LimitOrder", "MarketOrder",
    "Order", "RealTimeBar", "RequestError", "ScannerSubscription", "Stock", "StopOrder", "TagValue", "Trade", "choose",
    "lib", "util",
]
