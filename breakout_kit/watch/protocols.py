"""What views (the notebook panel, charts, the CLI) need of a client and of a watcher, as typed Protocols.

``IBClient`` and ``BreakoutWatcher`` satisfy them; test fakes implement them too, so views never guard their
collaborators with ``getattr``/``hasattr``: a fake that lacks something fails loudly, as it should.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ClientView(Protocol):
    """The connection as a view shows and uses it."""

    state_event: Any          #: emits the new state: "connecting", "connected", "reconnecting", "disconnected"
    state: str
    account: str              #: the account id ("" before connecting)
    paper: bool
    trading: bool             #: orders allowed (``trading=True``)
    settings: Any             #: ``.host`` and ``.port``

    async def qualify(self, symbol: Any) -> Any: ...

    async def matching_symbols(self, pattern: str) -> list[str]: ...

    def subscribe_scan(self, scan_code: str, rows: int = 10, **limits: Any) -> Any: ...


@runtime_checkable
class WatcherView(Protocol):
    """A running watcher as a view follows it."""

    symbol: str
    state: str
    error: BaseException | None
    last_bar: Any
    bar_event: Any            #: (watcher, bar, channel)
    signal_event: Any         #: (watcher, signal)
    state_event: Any          #: (watcher, state)

    @property
    def signals(self) -> list: ...

    @property
    def replaying(self) -> bool: ...

    @property
    def bars_seen(self) -> int: ...

    @property
    def task(self) -> asyncio.Task | None: ...

    def start(self) -> asyncio.Task: ...

    def stop(self) -> None: ...

    async def aclose(self) -> None: ...

    def __await__(self) -> Generator[Any, None, Any]: ...
