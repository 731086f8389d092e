"""Notebook views for breakout_kit: a control panel, live charts and a dashboard, all on the kernel's loop.

    client = await connect()          # embedded paper gateway unless IB_PORT is set
    panel = ControlPanel(client); panel
    watcher = panel.start("AAPL")     # or type a symbol and press Start

Names are imported lazily (PEP 562), like the card: ``BacktestResult.plot()`` imports ``notebook.plots`` and so this
package, and must pull in neither the IB client library nor ipywidgets/anywidget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CanvasChart", "ControlPanel", "Dashboard", "LiveChart", "StreamingChart", "connect", "disconnect",
           "embedded_gateway", "enable_sync_calls", "sync_calls_enabled"]


def _module(name: str):
    """The module defining ``name`` (plain imports, so tests/test_architecture.py sees every edge)."""
    if name == "CanvasChart":
        from breakout_kit.notebook import canvas as module
    elif name in ("LiveChart", "StreamingChart"):
        from breakout_kit.notebook import chart as module
    elif name == "ControlPanel":
        from breakout_kit.notebook import panel as module
    elif name == "Dashboard":
        from breakout_kit.notebook import dashboard as module
    elif name in ("enable_sync_calls", "sync_calls_enabled"):
        from breakout_kit.notebook import sync_calls as module
    else:
        from breakout_kit import connection as module
    return module


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'breakout_kit.notebook' has no attribute {name!r}")
    value = getattr(_module(name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from breakout_kit.connection import connect, disconnect, embedded_gateway
    from breakout_kit.notebook.canvas import CanvasChart
    from breakout_kit.notebook.chart import LiveChart, StreamingChart
    from breakout_kit.notebook.dashboard import Dashboard
    from breakout_kit.notebook.panel import ControlPanel
    from breakout_kit.notebook.sync_calls import enable_sync_calls, sync_calls_enabled
