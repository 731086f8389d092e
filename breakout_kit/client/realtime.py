"""Live 5-second bars and executions as plain records, so nothing outside ``client/`` sees IB library objects."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from breakout_kit.client.iblib import Event
from breakout_kit.client.symbols import display_symbol
from breakout_kit.core.bars import Bar


class RealTimeBars:
    """One real-time bar subscription (IB's 5-second bars). ``bar_event`` emits each ``Bar`` as it arrives.

    Made by ``IBClient.subscribe_bars``. ``cancel()`` ends it at TWS; ``detach()`` only stops listening (after a
    reconnect or error 1101 the request is already gone at TWS, and its id may have been reused).
    """

    def __init__(self, ib: Any, contract: Any, what: str = "TRADES", use_rth: bool = False) -> None:
        self.contract = contract
        #: emits ``Bar`` (time = the 5-second bar's start, UTC) for every bar the stream delivers, in order
        self.bar_event = Event("bar")
        #: one fast consumer (the watcher's hot path): called as ``on_fields(time, open, high, low, close, volume)``
        #: for every bar before ``bar_event``; no ``Bar`` object is built unless ``bar_event`` has listeners
        self.on_fields: Callable[[datetime, float, float, float, float, float], None] | None = None
        self._ib = ib
        self._bars = ib.reqRealTimeBars(contract, 5, what, use_rth)
        self._bars.updateEvent += self._on_update

    def _on_update(self, pieces: Any, has_new_bar: bool) -> None:
        fields = self.on_fields
        emit = self.bar_event.emit if len(self.bar_event) else None
        for p in pieces:
            if fields is not None:
                fields(p.time, p.open_, p.high, p.low, p.close, float(p.volume))
            if emit is not None:
                emit(Bar(p.time, p.open_, p.high, p.low, p.close, float(p.volume)))
        pieces.clear()      # the IB library appends every bar to this list forever: keep memory flat

    @property
    def req_id(self) -> int | None:
        """The subscription's request id on this connection (None once detached or cancelled)."""
        return self._bars.reqId if self._bars is not None else None

    @property
    def active(self) -> bool:
        return self._bars is not None

    def detach(self) -> None:
        """Stop listening without telling TWS (the subscription died with the connection)."""
        bars, self._bars = self._bars, None
        self.on_fields = None
        if bars is not None:
            bars.updateEvent -= self._on_update

    def cancel(self) -> None:
        """Stop listening and cancel the subscription at TWS (when still connected)."""
        bars = self._bars
        self.detach()
        if bars is not None and self._ib.isConnected():
            with contextlib.suppress(Exception):
                self._ib.cancelRealTimeBars(bars)


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill: what ``IBClient.fill_event`` emits and ``IBClient.executions()`` lists."""

    time: datetime
    symbol: str
    side: str           # "BOT" or "SLD", as IB reports it
    shares: float
    price: float
    order_id: int
    order_ref: str
    exec_id: str

    @classmethod
    def from_fill(cls, fill: Any) -> Execution:
        ex = fill.execution
        return cls(ex.time, display_symbol(fill.contract), ex.side, float(ex.shares), float(ex.price), ex.orderId,
                   ex.orderRef or "", ex.execId)


__all__ = ["Execution", "RealTimeBars"]
