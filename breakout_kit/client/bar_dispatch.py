"""Real-time bars of the kit's own subscriptions, from the decoded message straight to the subscriber.

For each realtimeBar message the client library builds a ``datetime``, a ``RealTimeBar`` object, appends it to a
list that grows forever and emits two events, before anyone sees the bar; a watcher needs six numbers. The
library's decoder looks the wrapper's ``realtimeBar`` method up on every message (ib_insync and ib_async alike),
so one ``BarDispatch`` per connection takes that method's place: a message for a subscription routed here
(``RealTimeBars``) goes to its handler as ``(epoch seconds, open, high, low, close, volume)``; every other message
(``Probe.raw_bars``, anything the library subscribed itself) takes the library's own path unchanged.

The library stays the source of truth: a message is routed only while the library's subscription table still
holds the very bar list the route was made for (after a reconnect the table is reset and request ids are reused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: (epoch seconds of the 5-second bar's start, open, high, low, close, volume)
FieldsHandler = Callable[[int, float, float, float, float, float], None]


class BarDispatch:
    """The realtimeBar handler of one client library connection (``BarDispatch.of(ib)``)."""

    def __init__(self, ib: Any) -> None:
        self._wrapper = wrapper = ib.wrapper
        self._library = wrapper.realtimeBar                       # the library's own method, bound
        self._routes: dict[int, tuple[Any, FieldsHandler]] = {}   # reqId -> (the library's bar list, handler)
        #: called as ``tap(req_id, epoch_seconds)`` for each routed message before its handler (``Probe``)
        self.tap: Callable[[int, int], None] | None = None
        wrapper.realtimeBar = self._on_message

    @classmethod
    def of(cls, ib: Any) -> BarDispatch:
        """The dispatch of ``ib``'s connection, installed on first use (it lives as long as the IB instance)."""
        dispatch = ib.wrapper.__dict__.get("_bk_bar_dispatch")
        if dispatch is None:
            dispatch = ib.wrapper._bk_bar_dispatch = cls(ib)
        return dispatch

    def route(self, bars: Any, handler: FieldsHandler) -> None:
        """Send the messages of the library's subscription ``bars`` (its ``RealTimeBarList``) to ``handler``."""
        self._routes[bars.reqId] = (bars, handler)

    def unroute(self, bars: Any) -> None:
        route = self._routes.get(bars.reqId)
        if route is not None and route[0] is bars:
            del self._routes[bars.reqId]

    def _on_message(self, reqId: int, time: int, open_: float, high: float, low: float, close: float,
                    volume: float, wap: float, count: int) -> None:
        route = self._routes.get(reqId)
        if route is None or self._wrapper.reqId2Subscriber.get(reqId) is not route[0]:
            if route is not None:            # the library dropped that subscription (a reconnect reset it)
                del self._routes[reqId]
            self._library(reqId, time, open_, high, low, close, volume, wap, count)
            return
        tap = self.tap
        if tap is not None:
            tap(reqId, time)
        route[1](time, open_, high, low, close, volume)


__all__ = ["BarDispatch", "FieldsHandler"]
