"""The client's exceptions: one module, so every part of ``IBClient`` raises the same types."""

from __future__ import annotations


class ContractError(ValueError):
    """A symbol IB does not know, or one that matches several contracts."""


class OrderRejected(Exception):
    """An order refused before sending (safety checks) or rejected by TWS, or one the kit knows was NOT placed
    (nothing of it is live); the message says why."""


class OrderNotSent(OrderRejected, ConnectionError):
    """An ``OrderRejected`` because the connection dropped while the order was being sent: TWS verifiably has
    nothing of it live (legs that arrived were cancelled). Also a ``ConnectionError``, like ``OrderStateUnknown``:
    a caller that asks again after the reconnect (a watcher does) places it again, safely with the same
    ``order_ref``."""


class OrderStateUnknown(ConnectionError):
    """An order was sent but the connection dropped before TWS acknowledged it, and the client is still not
    reconnected: it may be live. The message says which orders and what to check. Placing again with the same
    ``order_ref`` after the reconnect is safe (it places nothing when the first one reached TWS)."""


class ConnectError(ConnectionError):
    """Could not connect to TWS / IB Gateway / the embedded gateway; the message says what to do."""


__all__ = ["ConnectError", "ContractError", "OrderRejected", "OrderStateUnknown"]
