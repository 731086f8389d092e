"""Embedded paper gateway speaking the TWS socket protocol (server side only; imports no client library).

``PaperGateway`` serves a deterministic synthetic market of liquid US stocks/ETFs to unmodified IB clients.
Run it with ``python -m breakout_kit.gateway`` or ``async with PaperGateway(port=0) as gw: ...``.
Scenarios for tests: ``gw.market.plant_breakout(symbol, at, size_pct)`` (see market.py); server-side truth bars:
``gw.history(symbol, bar_size_seconds, start, end)``. Market scanner: scanner.py (``gw.scanner``). Restarts that
keep account, orders, executions and the clock: ``PaperGateway(state="gw.json")`` (state.py) and
``gw.faults.nightly_restart``. New request handlers plug in with ``session.register`` (see session.py) and a module
name appended to ``server.HANDLER_MODULES``.
"""

from .clock import GatewayClock, default_start
from .server import HANDLER_MODULES, PaperGateway
from .session import Session, on_disconnect, register

__all__ = [
           "HANDLER_MODULES",
           "GatewayClock",
           "PaperGateway",
           "Session",
           "default_start",
           "on_disconnect",
           "register",
]
