"""One ``Session`` per client connection: handshake, startApi, then a dispatch table of incoming message ids.

Extending the gateway: a module registers handlers at import time and the server imports it (see
``server.HANDLER_MODULES``)::

    from .session import register, on_disconnect

    @register(3)                       # placeOrder
    def place_order(session, f):       # f is a protocol.Fields cursor positioned after the message id
        ...

    @on_disconnect
    def forget(session): ...           # called once when the connection ends, for per-client cleanup

A handler raising ``ProtocolError`` (or IndexError/ValueError from bad fields) closes only that client's connection.
Unknown message ids are logged and ignored, as TWS does.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from .faults import FARMS, farm_message
from .protocol import (
    API_PREFIX,
    SERVER_VERSION,
    Fields,
    FrameReader,
    ProtocolError,
    encode,
    encode_raw,
    parse_version_range,
)

if TYPE_CHECKING:
    from .server import PaperGateway

log = logging.getLogger("breakout_kit.gateway")

Handler = Callable[["Session", Fields], None]
#: incoming message id -> handler(session, fields)
HANDLERS: dict[int, Handler] = {}
#: callbacks run once per session when its connection ends
DISCONNECT_HOOKS: list[Callable[[Session], None]] = []

MSG_START_API = 71
MSG_REQ_IDS = 8
HANDSHAKE_TIMEOUT = 10.0
CLOSE_GRACE = 2.0
# A client that stops reading gets dropped rather than buffering without bound.
MAX_WRITE_BUFFER = 64 << 20


def register(msg_id: int) -> Callable[[Handler], Handler]:
    """Decorator: make ``fn(session, fields)`` the handler for incoming message ``msg_id``."""

    def deco(fn: Handler) -> Handler:
        if msg_id in HANDLERS and HANDLERS[msg_id] is not fn:
            log.debug("handler for message %d replaced by %s", msg_id, fn.__qualname__)
        HANDLERS[msg_id] = fn
        return fn

    return deco


def on_disconnect(fn: Callable[[Session], None]) -> Callable[[Session], None]:
    """Decorator: call ``fn(session)`` when any session ends (cancel its subscriptions etc.)."""
    DISCONNECT_HOOKS.append(fn)
    return fn


class Session:
    """A connected client. ``client_id`` is None until startApi arrives."""

    def __init__(self, gateway: PaperGateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.gateway = gateway
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.server_version = SERVER_VERSION
        self.peer = writer.get_extra_info("peername")
        self.closed = False
        #: per-module state, keyed by module name (e.g. "marketdata")
        self.state: dict[str, object] = {}
        self._write = writer.write
        self._transport = writer.transport

    def __repr__(self) -> str:
        return f"<Session clientId={self.client_id} peer={self.peer}>"

    # ---- output -------------------------------------------------------------------------------------------
    def send(self, *fields) -> None:
        """Encode and queue one message (silently dropped once the session is closed)."""
        if self.closed or self._transport.is_closing():
            return
        held = self.gateway.held
        if held is not None:        # an order event is being made durable first (journal.py)
            held.append((self, encode(*fields)))
            return
        self._write(encode(*fields))
        if self._transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("%r is not reading; dropping it", self)
            self.closed = True
            self._transport.abort()

    def send_bytes(self, data: bytes) -> None:
        """Queue pre-encoded frames (batch sends)."""
        if not self.closed and not self._transport.is_closing():
            held = self.gateway.held
            if held is not None:
                held.append((self, data))
                return
            self._write(data)

    def error(self, req_id: int, code: int, message: str) -> None:
        """Send TWS error message 4 (version 2) to this client."""
        self.send(4, 2, req_id, code, message)

    def close(self) -> None:
        """Close the connection (idempotent); the run() task then finishes and runs disconnect hooks."""
        if not self.closed:
            self.closed = True
            self.writer.close()

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve this connection until the client leaves, sends garbage, or the gateway stops."""
        frames = FrameReader()
        try:
            await asyncio.wait_for(self._handshake(), HANDSHAKE_TIMEOUT)
            while not self.closed:
                data = await self.reader.read(1 << 16)
                if not data:
                    break
                for fields in frames.feed(data):
                    self._dispatch(fields)
                    if self.closed:
                        break
        except ProtocolError as e:
            log.warning("closing %r: malformed message: %s", self, e)
        except asyncio.TimeoutError:
            log.warning("closing %r: no handshake within %.0fs", self, HANDSHAKE_TIMEOUT)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            log.info("%r connection lost: %s", self, e)
        finally:
            self.close()
            self._run_disconnect_hooks()
            try:
                # a peer that stops reading would hold close() open forever: give it a moment, then abort
                await asyncio.wait_for(self.writer.wait_closed(), CLOSE_GRACE)
            except asyncio.TimeoutError:
                self._transport.abort()
            except (ConnectionError, OSError):
                pass

    def _run_disconnect_hooks(self) -> None:
        self.gateway._session_ended(self)
        for hook in DISCONNECT_HOOKS:
            try:
                hook(self)
            except Exception:
                log.exception("disconnect hook %s failed for %r", hook, self)

    async def _handshake(self) -> None:
        prefix = await self.reader.readexactly(len(API_PREFIX))
        if prefix != API_PREFIX:
            raise ProtocolError(f"expected API greeting, got {prefix!r}")
        # The greeting is one length-prefixed field without the NUL terminator later messages carry.
        (size,) = struct.unpack(">I", await self.reader.readexactly(4))
        if not 0 < size <= 1024:
            raise ProtocolError(f"bad version greeting length {size}")
        try:
            greeting = (await self.reader.readexactly(size)).decode("ascii").rstrip("\0")
        except UnicodeDecodeError:
            raise ProtocolError("version greeting is not ASCII") from None
        lo, hi, _options = parse_version_range(greeting)
        if not lo <= SERVER_VERSION <= hi:
            raise ProtocolError(f"client versions {lo}..{hi} do not include {SERVER_VERSION}")
        now = self.gateway.clock.now()
        stamp = f"{now:%Y%m%d %H:%M:%S} {now.tzname()}"
        self.send_bytes(encode_raw(str(SERVER_VERSION).encode(), stamp.encode()))
        log.debug("%r handshake done (client %d..%d)", self, lo, hi)

    def _dispatch(self, fields: list[str]) -> None:
        if not fields:
            raise ProtocolError("empty message")
        try:
            msg_id = int(fields[0])
        except ValueError:
            raise ProtocolError(f"message id is not an integer: {fields[0]!r}") from None
        if self.client_id is None and msg_id != MSG_START_API:
            raise ProtocolError(f"message {msg_id} before startApi")
        if msg_id == MSG_START_API:
            self._start_api(Fields(fields))
            return
        handler = HANDLERS.get(msg_id)
        if handler is None:
            log.info("%r: unsupported message %d ignored: %s", self, msg_id, ",".join(fields[:8]))
            return
        try:
            handler(self, Fields(fields))
        except ProtocolError:
            raise
        except (IndexError, ValueError, TypeError) as e:
            raise ProtocolError(f"message {msg_id}: {e}") from e

    def _start_api(self, f: Fields) -> None:
        if self.client_id is not None:
            raise ProtocolError("startApi sent twice")
        f.int()  # version
        client_id = f.int()
        if not self.gateway._claim_client_id(self, client_id):
            log.warning("refusing %s: clientId %d already in use", self.peer, client_id)
            self.error(-1, 326, "Unable to connect as the client id is already in use. "
                                "Retry with a unique client id.")
            self.close()
            return
        self.client_id = client_id
        gw = self.gateway
        self.send(15, 1, ",".join(gw.accounts))
        self.send(9, 1, gw.next_order_id)
        for farm in FARMS:  # 2104, 2106, 2158 "... connection is OK", as TWS greets every client
            self.error(-1, *farm_message(farm, ok=True))
        log.info("client %d connected from %s", client_id, self.peer)


@register(MSG_REQ_IDS)
def _req_ids(session: Session, f: Fields) -> None:
    """reqIds -> nextValidId (9)."""
    session.send(9, 1, session.gateway.next_order_id)

