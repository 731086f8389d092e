"""TWS socket framing: 4-byte big-endian length, then NUL-terminated ASCII fields.

``encode(*fields)`` turns Python values into one framed message (the hot path: it is called for every bar and
tick); ``FrameReader`` splits an incoming byte stream into messages and tolerates arbitrary partial reads;
``Fields`` walks one message's fields with typed accessors that raise ``ProtocolError`` on garbage.
"""

from __future__ import annotations

import struct

from ..sim.contract_spec import ContractSpec
from .limits import MAX_FRAME

API_PREFIX = b"API\0"

_pack_len = struct.Struct(">I").pack
_unpack_len = struct.Struct(">I").unpack_from


class ProtocolError(ValueError):
    """A malformed, truncated or out-of-protocol message from a client."""


class BadFrame(ProtocolError):
    """A complete frame whose contents are garbage (no NUL terminator, not UTF-8): the stream is still in step,
    so only that message is refused."""


def _fmt_bool(v: bool) -> str:
    return "1" if v else "0"


def _fmt_none(_v: None) -> str:
    return ""


def _fmt_str(v: str) -> str:
    return v


# Exact-type dispatch is the fast path; anything else falls back to str().
_FORMATTERS = {str: _fmt_str, int: str, float: repr, bool: _fmt_bool, type(None): _fmt_none}


def encode(*fields) -> bytes:
    """Encode fields (str, int, float, bool, None) into one length-prefixed frame."""
    fmts = _FORMATTERS
    payload = ("\0".join([fmts.get(type(f), str)(f) for f in fields]) + "\0").encode()
    return _pack_len(len(payload)) + payload


def payload(*fields) -> bytes:
    """The fields of a message without its length prefix (a long message is encoded in pieces: ``frame``)."""
    fmts = _FORMATTERS
    return ("\0".join([fmts.get(type(f), str)(f) for f in fields]) + "\0").encode() if fields else b""


def frame(pieces: list[bytes]) -> bytes:
    """One message from payload pieces, in order."""
    body = b"".join(pieces)
    return _pack_len(len(body)) + body


def encode_raw(*fields: bytes) -> bytes:
    """Frame already-encoded byte fields (used for the handshake answer)."""
    payload = b"".join(f + b"\0" for f in fields)
    return _pack_len(len(payload)) + payload


class FrameReader:
    """Incremental frame splitter: ``feed(data)`` returns the complete messages (lists of str fields) so far."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet forming a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[list[str] | BadFrame]:
        """The complete messages so far: field lists, or a ``BadFrame`` for a frame that cannot be read. Raises
        ProtocolError for a frame length that makes the rest of the stream unreadable."""
        buf = self._buf
        buf += data
        out: list[list[str] | BadFrame] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            (size,) = _unpack_len(buf, pos)
            if size == 0 or size > MAX_FRAME:
                raise ProtocolError(f"bad frame length {size}")
            end = pos + 4 + size
            if end > n:
                break
            payload = bytes(buf[pos + 4:end])
            pos = end
            if payload[-1:] != b"\0":
                out.append(BadFrame("frame does not end with a NUL field terminator"))
                continue
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                out.append(BadFrame("frame is not UTF-8 text"))
                continue
            out.append(text.split("\0")[:-1])
        if pos:
            del buf[:pos]
        return out


def parse_version_range(text: str) -> tuple[int, int, str]:
    """Parse the client's greeting field ``v157..176[ options]`` into (min, max, options)."""
    head, _, options = text.partition(" ")
    if not head.startswith("v"):
        raise ProtocolError(f"bad version greeting {text!r}")
    lo, sep, hi = head[1:].partition("..")
    try:
        lo_v = int(lo)
        hi_v = int(hi) if sep else lo_v
    except ValueError:
        raise ProtocolError(f"bad version greeting {text!r}") from None
    if lo_v > hi_v:
        raise ProtocolError(f"bad version range {text!r}")
    return lo_v, hi_v, options


class Fields:
    """Typed, bounds-checked cursor over one message's fields (``fields[0]`` is the message id)."""

    __slots__ = ("fields", "pos")

    def __init__(self, fields: list[str], pos: int = 1) -> None:
        self.fields = fields
        self.pos = pos

    def str(self) -> str:
        try:
            v = self.fields[self.pos]
        except IndexError:
            raise ProtocolError(f"message {self.fields[:1]} truncated at field {self.pos}") from None
        self.pos += 1
        return v

    def int(self, default: int = 0) -> int:
        s = self.str()
        if s == "":
            return default
        try:
            return int(s)
        except ValueError:
            raise ProtocolError(f"field {self.pos - 1} is not an integer: {s!r}") from None

    def float(self, default: float = 0.0) -> float:
        s = self.str()
        if s == "":
            return default
        try:
            return float(s)
        except ValueError:
            raise ProtocolError(f"field {self.pos - 1} is not a number: {s!r}") from None

    def bool(self) -> bool:
        return self.int() != 0

    def skip(self, n: int = 1) -> None:
        self.pos += n
        if self.pos > len(self.fields):
            raise ProtocolError(f"message {self.fields[:1]} truncated at field {self.pos}")

    def rest(self) -> list[str]:
        return self.fields[self.pos:]

    def contract(self) -> ContractSpec:
        return ContractSpec(
            self.int(), self.str(), self.str(), self.str(), self.float(), self.str(),
            self.str(), self.str(), self.str(), self.str(), self.str(), self.str(),
        )
