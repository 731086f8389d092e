"""Embedded paper gateway speaking the TWS socket protocol (server side only; imports no client library).

``PaperGateway`` serves a deterministic synthetic market of liquid US stocks/ETFs to unmodified IB clients.
Run it with ``python -m breakout_kit.gateway`` or ``async with PaperGateway(port=0) as gw: ...``.
Scenarios for tests: ``gw.market.plant_breakout(symbol, at, size_pct)`` (see sim/market.py); server-side truth bars:
``gw.history(symbol, bar_size_seconds, start, end)``. Market scanner: sim/scanner.py (``gw.scanner``). Restarts that
keep account, orders, executions and the clock: ``PaperGateway(state="gw.json")`` (sim/state.py) and
``gw.faults.nightly_restart``.

Two halves: ``wire/`` speaks the protocol (framing, sessions, the one table of request ids in wire/requests.py) and
``sim/`` is the simulated world (it never imports ``wire/``); ``server.py`` joins them.
"""

from .server import PaperGateway
from .sim.clock import GatewayClock, default_start
from .wire.requests import on_disconnect, register
from .wire.session import Session

__all__ = [
           "GatewayClock",
           "PaperGateway",
           "Session",
           "default_start",
           "on_disconnect",
           "register",
]
