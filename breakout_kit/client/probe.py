"""Measurement hooks into the IB client library, for benchmarks (``breakout-kit bench``) and diagnostics.

``IBClient.probe()`` returns a ``Probe``: what a benchmark needs to time the client library and compare our code
with it, without anything outside ``client/`` touching the library's objects. Trading code never needs it.

* ``read_event`` emits the byte count of every socket read *before* the library decodes it (a stamp taken there is
  when the data reached Python), the first listener on the connection's data.
* ``bar_message_event`` emits ``(req_id, time)`` for every real-time bar message the library decodes, before the
  subscription's own handlers run (``time`` is the 5-second bar's start, POSIX seconds: an ``int``, so the tap costs
  the kit's path, which builds no ``datetime``, no more than the library's).
* ``pause_reading()`` / ``resume_reading()`` stop and restart reading the socket (data queues up in the kernel);
  ``socket`` is the connection's socket (for ``setsockopt`` / ``FIONREAD``).
* ``raw_bars(contract, on_bar)`` subscribes to 5-second bars straight through the library, bypassing
  ``RealTimeBars``: the bare baseline our wrapper is compared with.

Call ``close()`` (or use ``with client.probe() as probe:``) to remove the hooks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Self

from breakout_kit.client.bar_dispatch import BarDispatch
from breakout_kit.client.iblib import Event


class RawBars:
    """A real-time 5-second bar subscription made directly through the client library (``Probe.raw_bars``).

    With ``on_bar``, the library's own per-subscription update event calls ``on_bar(req_id, time)`` for each
    message and the library's bar list is emptied after it (as ``RealTimeBars`` does). Without it nobody listens:
    the library only decodes each message and appends it to its list, the cheapest a subscription can be.
    """

    def __init__(self, ib: Any, contract: Any, on_bar: Callable[[int, datetime], object] | None,
                 what: str, use_rth: bool) -> None:
        self._ib = ib
        self._on_bar = on_bar
        self._bars = ib.reqRealTimeBars(contract, 5, what, use_rth)
        if on_bar is not None:
            self._bars.updateEvent += self._on_update

    def _on_update(self, bars: Any, _has_new: bool) -> None:
        on_bar = self._on_bar
        if on_bar is not None:          # always: only connected with a handler
            on_bar(bars.reqId, bars[-1].time)
        bars.clear()

    @property
    def req_id(self) -> int | None:
        """The subscription's request id on this connection (None once cancelled)."""
        return self._bars.reqId if self._bars is not None else None

    def cancel(self) -> None:
        """Stop listening and cancel the subscription at the server (when still connected)."""
        bars, self._bars = self._bars, None
        if bars is None:
            return
        if self._on_bar is not None:
            bars.updateEvent -= self._on_update
        if self._ib.isConnected():
            with contextlib.suppress(Exception):
                self._ib.cancelRealTimeBars(bars)


class Probe:
    """Measurement hooks on one ``IBClient``'s connection (module doc). Made by ``IBClient.probe()``."""

    def __init__(self, ib: Any) -> None:
        self._ib = ib
        #: emits ``nbytes`` for every socket read, before the client library decodes the data
        self.read_event = Event("read")
        #: emits ``(req_id, epoch_seconds)`` for every real-time bar message, before the subscription's handlers
        self.bar_message_event = Event("bar_message")
        self._raw: list[RawBars] = []
        # Our listener goes ahead of the library's own decoder on the connection's data event: re-connect the
        # decoder behind it (the connection object lives as long as the IB instance, across reconnects).
        conn, decode = ib.client.conn, ib.client._onSocketHasData
        conn.hasData.disconnect(decode)
        conn.hasData.connect(self._on_data)
        conn.hasData.connect(decode)
        ib.barUpdateEvent += self._on_bar_message            # the library's own path (raw_bars)
        # the kit's subscriptions (RealTimeBars): tapped, without installing their dispatch on a connection that
        # has none (a bare baseline's messages must take the library's path alone)
        BarDispatch.set_tap(ib, self._on_routed_message)
        self._closed = False

    def _on_data(self, data: bytes) -> None:
        self.read_event.emit(len(data))

    def _on_bar_message(self, bars: Any, _has_new: bool) -> None:
        if len(self.bar_message_event):       # the library's datetime, converted only when someone listens
            self.bar_message_event.emit(bars.reqId, int(bars[-1].time.timestamp()))

    def _on_routed_message(self, req_id: int, epoch: int) -> None:
        self.bar_message_event.emit(req_id, epoch)

    @property
    def _transport(self) -> Any:
        transport = self._ib.client.conn.transport
        if transport is None:
            raise ConnectionError("not connected: the probe's socket exists only while the client is connected")
        return transport

    @property
    def socket(self) -> Any:
        """The connection's socket (asyncio's ``TransportSocket``: ``setsockopt``, ``fileno``, ...)."""
        return self._transport.get_extra_info("socket")

    def pause_reading(self) -> None:
        """Stop reading the socket: incoming data waits in the kernel's buffer until ``resume_reading()``.
        The rest of the read being decoded right now is still decoded."""
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read the socket again after ``pause_reading()``."""
        self._transport.resume_reading()

    def raw_bars(self, contract: Any, on_bar: Callable[[int, datetime], object] | None = None,
                 what: str = "TRADES", use_rth: bool = False) -> RawBars:
        """Subscribe to 5-second bars of a qualified contract straight through the client library (``RawBars``);
        cancelled by ``close()`` if still open."""
        if not self._ib.isConnected():
            raise ConnectionError("not connected: connect() first")
        raw = RawBars(self._ib, contract, on_bar, what, use_rth)
        self._raw.append(raw)
        return raw

    def close(self) -> None:
        """Cancel the raw subscriptions and remove the hooks (idempotent); the events stop emitting."""
        if self._closed:
            return
        self._closed = True
        for raw in self._raw:
            raw.cancel()
        self._raw.clear()
        self._ib.client.conn.hasData.disconnect(self._on_data)
        self._ib.barUpdateEvent -= self._on_bar_message
        BarDispatch.remove_tap(self._ib, self._on_routed_message)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Probe", "RawBars"]
