"""Real-time bars of the kit's own subscriptions, from the raw message straight to the subscriber.

For each realtimeBar message the client library converts nine fields, builds a ``datetime`` and a
``RealTimeBar`` object, appends it to a list that grows forever and emits two events, before anyone sees the bar;
a watcher needs six numbers. The library's decoder looks its handler for message 50 up in a table on every
message (ib_insync and ib_async alike), so one ``BarDispatch`` per connection takes that entry's place: a message
for a subscription routed here (``RealTimeBars``) has its six numbers converted (as the library converts them) and
goes to its handler as ``(epoch seconds, open, high, low, close, volume)``; every other message (``Probe.raw_bars``,
anything the library subscribed itself, anything malformed) takes the library's own path unchanged.

The library stays the source of truth: a message is routed only while the library's subscription table still
holds the very bar list the route was made for (after a reconnect the table is reset and request ids are reused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: (epoch seconds of the 5-second bar's start, open, high, low, close, volume)
FieldsHandler = Callable[[int, float, float, float, float, float], None]
REALTIME_BAR = 50          # the message id of a real-time bar (decoder.handlers key)
PENDING_TAP = "_bk_bar_tap"  # a probe's tap, on the wrapper until a dispatch is installed


class BarDispatch:
    """The realtimeBar handler of one client library connection (``BarDispatch.of(ib)``)."""

    def __init__(self, ib: Any) -> None:
        self._wrapper = ib.wrapper                              # its reqId2Subscriber: a new dict on each reset
        handlers = ib.client.decoder.handlers
        self._library = handlers[REALTIME_BAR]                  # the library's own handler of the message
        self._routes: dict[int, tuple[Any, FieldsHandler]] = {}   # reqId -> (the library's bar list, handler)
        #: called as ``tap(req_id, epoch_seconds)`` for each routed message before its handler (``Probe``; a
        #: probe made before the dispatch left its tap on the wrapper)
        self.tap: Callable[[int, int], None] | None = ib.wrapper.__dict__.pop(PENDING_TAP, None)
        handlers[REALTIME_BAR] = self._on_message

    @classmethod
    def of(cls, ib: Any) -> BarDispatch:
        """The dispatch of ``ib``'s connection, installed on first use (it lives as long as the IB instance)."""
        dispatch = cls.installed(ib)
        if dispatch is None:
            dispatch = ib.wrapper._bk_bar_dispatch = cls(ib)
        return dispatch

    @staticmethod
    def installed(ib: Any) -> BarDispatch | None:
        """The dispatch of ``ib``'s connection if a kit subscription installed one, else None (the connection
        decodes bars through the library's own handler alone, as a bare baseline must)."""
        return ib.wrapper.__dict__.get("_bk_bar_dispatch")

    @classmethod
    def set_tap(cls, ib: Any, tap: Callable[[int, int], None]) -> None:
        """Set the tap of ``ib``'s dispatch without installing one: a dispatch made later takes it over."""
        dispatch = cls.installed(ib)
        if dispatch is not None:
            dispatch.tap = tap
        else:
            ib.wrapper.__dict__[PENDING_TAP] = tap

    @classmethod
    def remove_tap(cls, ib: Any, tap: Callable[[int, int], None]) -> None:
        """Remove ``tap`` from ``ib``'s connection, wherever it waits; a tap set since by someone else stays."""
        dispatch = cls.installed(ib)
        if dispatch is not None:
            if dispatch.tap == tap:
                dispatch.tap = None
        elif ib.wrapper.__dict__.get(PENDING_TAP) == tap:
            del ib.wrapper.__dict__[PENDING_TAP]

    def route(self, bars: Any, handler: FieldsHandler) -> None:
        """Send the messages of the library's subscription ``bars`` (its ``RealTimeBarList``) to ``handler``."""
        self._routes[bars.reqId] = (bars, handler)

    def unroute(self, bars: Any) -> None:
        route = self._routes.get(bars.reqId)
        if route is not None and route[0] is bars:
            del self._routes[bars.reqId]

    def _on_message(self, fields: list[str]) -> None:
        # fields: msgId, version, reqId, time, open, high, low, close, volume, wap, count
        try:
            req_id = int(fields[2])
            route = self._routes.get(req_id)
            if route is not None and self._wrapper.reqId2Subscriber.get(req_id) is not route[0]:
                del self._routes[req_id]         # the library dropped that subscription (a reconnect reset it)
                route = None
            if route is not None:
                if "" in fields[3:9]:            # an empty field: 0, as the library reads it
                    fields = [*fields[:3], *(f or "0" for f in fields[3:9])]
                time = int(fields[3])
                o, h, low, c, v = float(fields[4]), float(fields[5]), float(fields[6]), float(fields[7]), \
                    float(fields[8])
        except (IndexError, ValueError):
            route = None                         # malformed: the library's path logs it, as it always does
        if route is None:
            self._library(fields)
            return
        tap = self.tap
        if tap is not None:
            tap(req_id, time)
        route[1](time, o, h, low, c, v)


__all__ = ["BarDispatch", "FieldsHandler"]
