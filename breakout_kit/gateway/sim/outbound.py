"""What the simulation may do to a client: the outbound interface (the wire session satisfies it).

The simulation decides what to say (message fields, TWS error codes); the wire layer frames and sends it. Sim code
types its client handles with ``Client`` instead of importing the wire session, so ``sim/`` never imports ``wire/``.
"""

from __future__ import annotations

from typing import Protocol


class Client(Protocol):
    """One connected API client as the simulation sees it."""

    #: the client's API id (None until startApi)
    client_id: int | None
    #: True once the connection is closing or gone (messages to it are dropped)
    closed: bool

    def send(self, *fields) -> None:
        """Queue one message: the message id, then its fields (str, int, float, bool or None)."""

    def error(self, req_id: int, code: int, message: str) -> None:
        """Queue TWS error message 4 for request ``req_id`` (-1: not about a request)."""
