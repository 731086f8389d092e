"""breakout_kit: breakout research on Interactive Brokers data, one asyncio loop from Jupyter to the CLI.

The card -- every public name, importable from here::

    from breakout_kit import *          # or: import breakout_kit as bk
    client = await connect()            # your TWS if IB_PORT is set, else an embedded paper gateway
    panel = ControlPanel(client); panel

Names are imported lazily (PEP 562), so ``import breakout_kit`` stays as cheap as importing pandas and pulls in
neither ipywidgets, plotly nor the IB client library until a name that needs it is used. ``docs/api.md`` has one
line and an example per name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it. Grouped as in architecture.md's card.
_CARD: dict[str, str] = {
    # core (pure)
    "Bar": "breakout_kit.core.bars",
    "BreakoutRule": "breakout_kit.core.breakout",
    "Signal": "breakout_kit.core.breakout",
    "BreakoutDetector": "breakout_kit.core.breakout",
    "scan": "breakout_kit.core.breakout",
    "backtest": "breakout_kit.core.backtest",
    "backtest_many": "breakout_kit.core.backtest",
    "BacktestResult": "breakout_kit.core.backtest",
    "portfolio": "breakout_kit.core.portfolio",
    "PortfolioResult": "breakout_kit.core.portfolio",
    # research (sweeps on every core or a Dask cluster)
    "sweep": "breakout_kit.research.sweep",
    "walk_forward": "breakout_kit.research.sweep",
    # client
    "IBClient": "breakout_kit.client.ib_client",
    "ingest": "breakout_kit.client.ingest",
    "load": "breakout_kit.client.ingest",
    "Stock": "breakout_kit.client.contracts",
    "Forex": "breakout_kit.client.contracts",
    "Future": "breakout_kit.client.contracts",
    "ContFuture": "breakout_kit.client.contracts",
    "Index": "breakout_kit.client.contracts",
    # watch
    "BreakoutWatcher": "breakout_kit.watch.watcher",
    "TradeSpec": "breakout_kit.watch.watcher",
    "Watchlist": "breakout_kit.watch.watchlist",
    # shell
    "connect": "breakout_kit.connection",
    # notebook
    "ControlPanel": "breakout_kit.notebook.panel",
    "LiveChart": "breakout_kit.notebook.chart",
    "Dashboard": "breakout_kit.notebook.dashboard",
    # gateway
    "PaperGateway": "breakout_kit.gateway.server",
}

__all__ = list(_CARD)


def __getattr__(name: str) -> Any:
    module = _CARD.get(name)
    if module is None:
        raise AttributeError(f"module 'breakout_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value          # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # static type checkers and IDEs see the real names
    from breakout_kit.client.contracts import ContFuture, Forex, Future, Index, Stock
    from breakout_kit.client.ib_client import IBClient
    from breakout_kit.client.ingest import ingest, load
    from breakout_kit.connection import connect
    from breakout_kit.core.backtest import BacktestResult, backtest, backtest_many
    from breakout_kit.core.bars import Bar
    from breakout_kit.core.breakout import BreakoutDetector, BreakoutRule, Signal, scan
    from breakout_kit.core.portfolio import PortfolioResult, portfolio
    from breakout_kit.gateway.server import PaperGateway
    from breakout_kit.notebook.chart import LiveChart
    from breakout_kit.notebook.dashboard import Dashboard
    from breakout_kit.notebook.panel import ControlPanel
    from breakout_kit.research.sweep import sweep, walk_forward
    from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec
    from breakout_kit.watch.watchlist import Watchlist
