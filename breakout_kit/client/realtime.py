"""Live 5-second bars and executions as plain records, so nothing outside ``client/`` sees IB library objects."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from breakout_kit.client.bar_dispatch import BarDispatch, FieldsHandler
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
        self._bar_event: Event | None = None
        self._on_fields: FieldsHandler | None = None
        self._ib = ib
        self._bars = ib.reqRealTimeBars(contract, 5, what, use_rth)
        self._dispatch = BarDispatch.of(ib)
        self._reroute()

    @property
    def bar_event(self) -> Event:
        """Emits each ``Bar`` (time = the 5-second bar's start, UTC) the stream delivers, in order."""
        if self._bar_event is None:
            self._bar_event = Event("bar")
            self._reroute()
        return self._bar_event

    @bar_event.setter
    def bar_event(self, event: Event) -> None:      # `bars.bar_event += handler` assigns the event back
        self._bar_event = event
        self._reroute()

    @property
    def on_fields(self) -> FieldsHandler | None:
        """One fast consumer (the watcher's hot path), called as ``on_fields(epoch, open, high, low, close,
        volume)`` (``epoch``: the 5-second bar's start, POSIX seconds) for every bar, before ``bar_event``. While
        nobody has asked for ``bar_event``, the messages go straight to it and no ``Bar`` is built."""
        return self._on_fields

    @on_fields.setter
    def on_fields(self, handler: FieldsHandler | None) -> None:
        self._on_fields = handler
        self._reroute()

    def _reroute(self) -> None:
        if self._bars is not None:
            fields = self._on_fields
            self._dispatch.route(self._bars, fields if fields is not None and self._bar_event is None
                                 else self._on_message)

    def _on_message(self, time: int, o: float, h: float, low: float, c: float, v: float) -> None:
        fields = self._on_fields
        if fields is not None:
            fields(time, o, h, low, c, v)
        if self._bar_event is not None and len(self._bar_event):
            self._bar_event.emit(Bar(datetime.fromtimestamp(time, timezone.utc), o, h, low, c, float(v)))

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
        self._on_fields = None
        if bars is not None:
            self._dispatch.unroute(bars)

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
