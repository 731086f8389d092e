"""One ``Session`` per client connection: handshake, startApi, then dispatch through ``requests.HANDLERS``.

The session is the simulation's ``sim.outbound.Client``: ``send(*fields)`` and ``error(reqId, code, text)``.
A request that cannot be read gets TWS's error 320 (with its reqId when the reqId field reads), one the gateway
fails processing gets 322; the connection lives on. Only a frame length that puts the stream out of step (or a bad
handshake) ends the connection, after a 320.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import TYPE_CHECKING

from .farms import FARMS, farm_message
from .limits import CLOSE_GRACE, ERR_RATE, HANDSHAKE_TIMEOUT, MAX_WRITE_BUFFER
from .protocol import (
    API_PREFIX,
    BadFrame,
    Fields,
    FrameReader,
    ProtocolError,
    encode,
    encode_raw,
    parse_version_range,
)
from .requests import DISCONNECT_HOOKS, HANDLERS, REQUESTS, request_id
from .versions import BASE, MIN_VERSION, TOP, adapters_for, negotiate

if TYPE_CHECKING:
    from ..server import PaperGateway

log = logging.getLogger("breakout_kit.gateway")

MSG_START_API = 71


class VersionRefused(Exception):
    """The client's API versions all lie below the gateway's oldest (it was told so with error 357)."""


class Session:
    """A connected client. ``client_id`` is None until startApi arrives."""

    def __init__(self, gateway: PaperGateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.gateway = gateway
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        #: the API version agreed at the handshake (message layouts follow it, see versions.py)
        self.server_version = BASE
        self._adapters: dict = {}
        self.peer = writer.get_extra_info("peername")
        self.closed = False
        #: set once the connection has ended and everything read before its end has been handled (and the
        #: disconnect hooks have run): ``await session.ended.wait()`` to know what a client sent has arrived
        self.ended = asyncio.Event()
        #: per-module state, keyed by module name (e.g. "marketdata")
        self.state: dict[str, object] = {}
        self._write = writer.write
        self._transport = writer.transport
        self._rate: int | None = gateway.max_message_rate
        self._agreed = False                     # True once the version answer went out
        self._tokens = float(self._rate or 0)
        self._refilled = 0.0

    def __repr__(self) -> str:
        return f"<Session clientId={self.client_id} peer={self.peer}>"

    # ---- output -------------------------------------------------------------------------------------------
    def send(self, *fields) -> None:
        """Encode and queue one message (silently dropped once the session is closed)."""
        if self.closed or self._transport.is_closing():
            return
        if self._adapters:
            adapt = self._adapters.get(fields[0])
            if adapt is not None:
                fields = adapt(fields, self.server_version)
        held = self.gateway.held
        if held is not None:        # an order event is being made durable first (sim/journal.py)
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

    def abort(self) -> None:
        """Drop the connection without a goodbye, as a network failure does (nothing more is written to it)."""
        self.closed = True
        self._transport.abort()

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve this connection until the client leaves, the stream becomes unreadable, or the gateway stops."""
        frames = FrameReader()
        try:
            loop = asyncio.get_running_loop()
            start_by = loop.time() + HANDSHAKE_TIMEOUT      # greeting and startApi, or the slot goes to others
            await asyncio.wait_for(self._handshake(), HANDSHAKE_TIMEOUT)
            while not self.closed:
                if self.client_id is None:
                    data = await asyncio.wait_for(self.reader.read(1 << 16), max(0.0, start_by - loop.time()))
                else:
                    data = await self.reader.read(1 << 16)
                if not data:
                    break
                for fields in frames.feed(data):
                    if self._rate is not None and not self._within_rate(loop.time()):
                        log.warning("closing %r: more than %d messages per second", self, self._rate)
                        self.error(-1, 100, ERR_RATE)
                        self.close()
                        break
                    if isinstance(fields, BadFrame):
                        self._malformed(-1, None, fields)
                    else:
                        self._dispatch(fields)
                    if self.closed:
                        break
        except VersionRefused as e:
            log.warning("refusing %s: %s", self.peer, e)
        except ProtocolError as e:
            # the stream is out of step (a frame length no client sends): say so as TWS does, then hang up
            log.warning("closing %r: malformed message: %s", self, e)
            if self._agreed:                     # before a version is agreed there is no frame the peer could read
                self.error(-1, 320, f"Error reading request. Unable to parse data. {e}")
        except asyncio.TimeoutError:
            log.warning("closing %r: no handshake and startApi within %.0fs", self, HANDSHAKE_TIMEOUT)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            log.info("%r connection lost: %s", self, e)
        finally:
            self.close()
            self._run_disconnect_hooks()
            self.ended.set()
            try:
                # a peer that stops reading would hold close() open forever: give it a moment, then abort
                await asyncio.wait_for(self.writer.wait_closed(), CLOSE_GRACE)
            except asyncio.TimeoutError:
                self._transport.abort()
            except (ConnectionError, OSError):
                pass

    def _within_rate(self, now: float) -> bool:
        """A token bucket of the gateway's ``max_message_rate``: False when this message is one too many."""
        rate = self._rate
        assert rate is not None
        self._tokens = min(float(rate), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _run_disconnect_hooks(self) -> None:
        self.gateway.session_ended(self)
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
        version = negotiate(lo, hi)
        now = self.gateway.clock.now()
        stamp = f"{now:%Y%m%d %H:%M:%S} {now.tzname()}".encode()
        if version is None:
            # answer as a gateway at its oldest version, then say why in words the client can show, and hang up
            self.server_version = MIN_VERSION
            self.send_bytes(encode_raw(str(MIN_VERSION).encode(), stamp))
            self.error(-1, 357, f"Your client version is out of date. It offers API versions {lo}..{hi}; "
                                f"the paper gateway serves {MIN_VERSION}..{TOP}.")
            raise VersionRefused(f"client versions {lo}..{hi} end below {MIN_VERSION}")
        self.server_version = version
        self._adapters = adapters_for(version)
        self.send_bytes(encode_raw(str(version).encode(), stamp))
        self._agreed = True
        log.debug("%r handshake done: version %d (client %d..%d)", self, version, lo, hi)

    def _dispatch(self, fields: list[str]) -> None:
        """Hand one message to its handler. Whatever goes wrong becomes a TWS error for that request (320: the
        request cannot be read, 322: the gateway failed processing it); the connection lives on."""
        try:
            msg_id = int(fields[0])
        except ValueError:
            self._malformed(-1, None, ProtocolError(f"message id is not an integer: {fields[0]!r}"))
            return
        if msg_id == MSG_START_API:
            self._start_api(Fields(fields))
            return
        request = REQUESTS.get(msg_id)
        at = request.id_index(self.server_version) if request is not None else None
        if self.client_id is None:
            self._malformed(-1, msg_id, ProtocolError("the API is not started yet (send startApi first)"))
            return
        handler = HANDLERS.get(msg_id)
        if handler is None:
            self._malformed(-1, msg_id, ProtocolError("unknown message id"))
            return
        if request is not None and len(fields) < request.size:
            self._malformed(request_id(fields, at), msg_id,
                            ProtocolError(f"message truncated: {len(fields)} of at least {request.size} fields"))
            return
        try:
            handler(self, Fields(fields))
        except (ProtocolError, IndexError, ValueError, TypeError) as e:
            self._malformed(request_id(fields, at), msg_id, e)
        except Exception as e:
            log.exception("%r: message %d (%s) failed", self, msg_id, request.name if request else "?")
            self.error(request_id(fields, at), 322,
                       f"Error processing request.-'{msg_id}' : cause - {type(e).__name__}: {e}")

    def _malformed(self, req_id: int, msg_id: int | None, e: Exception) -> None:
        """TWS's 320 for a request it cannot read."""
        log.warning("%r: malformed message %s: %s", self, "?" if msg_id is None else msg_id, e)
        where = "" if msg_id is None else f" Message id {msg_id}."
        self.error(req_id, 320, f"Error reading request.{where} Unable to parse data. {e}")

    def _start_api(self, f: Fields) -> None:
        if self.client_id is not None:
            self.error(-1, 321, "Error validating request.-'71' : cause - the API is already started")
            return
        f.int()  # version
        client_id = f.int()
        refusal = self.gateway.admit(self, client_id)
        if refusal is not None:
            log.warning("refusing %s as clientId %d: %s", self.peer, client_id, refusal[1])
            self.error(-1, *refusal)
            self.close()
            return
        self.client_id = client_id
        gw = self.gateway
        self.send(15, 1, ",".join(gw.accounts))
        self.send(9, 1, gw.next_order_id)
        for farm in FARMS:  # 2104, 2106, 2158 "... connection is OK", as TWS greets every client
            self.error(-1, *farm_message(farm, ok=True))
        log.info("client %d connected from %s", client_id, self.peer)
