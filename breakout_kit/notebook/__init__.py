"""Notebook views for breakout_kit: a control panel, live charts and a dashboard, all on the kernel's loop.

    client = await connect()          # embedded paper gateway unless IB_PORT is set
    panel = ControlPanel(client); panel
    watcher = panel.start("AAPL")     # or type a symbol and press Start
"""

from breakout_kit.connection import connect, disconnect, embedded_gateway
from breakout_kit.notebook.canvas import CanvasChart
from breakout_kit.notebook.chart import LiveChart, StreamingChart
from breakout_kit.notebook.dashboard import Dashboard
from breakout_kit.notebook.panel import ControlPanel
from breakout_kit.notebook.sync_calls import enable_sync_calls, sync_calls_enabled

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
