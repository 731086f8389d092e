"""Notebook views for breakout_kit: a control panel, live charts and a dashboard, all on the kernel's loop.

    client = await connect()          # embedded paper gateway unless IB_PORT is set
    panel = ControlPanel(client); panel
    watcher = panel.start("AAPL")     # or type a symbol and press Start
"""

from .canvas import CanvasChart
from .chart import LiveChart, StreamingChart
from .dashboard import Dashboard
from .panel import ControlPanel
from .session import connect, disconnect, embedded_gateway
from .sync_calls import enable_sync_calls, sync_calls_enabled

__all__ = [
    "CanvasChart",
    "ControlPanel",
    "Dashboard",
    "LiveChart",
    "StreamingChart",
    "connect",
    "disconnect",
    "embedded_gateway",
    "enable_sync_calls",
    "sync_calls_enabled",
]
