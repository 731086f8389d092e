"""Per-connection limits of the gateway's socket side (what one client may cost everyone else)."""

from __future__ import annotations

#: seconds a new connection has to send the API greeting and version range
HANDSHAKE_TIMEOUT = 10.0
#: seconds a closing connection gets to flush before it is aborted (a peer that stops reading holds close() open)
CLOSE_GRACE = 2.0
#: bytes queued for one client before it is dropped as "not reading" (others are unaffected)
MAX_WRITE_BUFFER = 64 << 20
#: a frame longer than this is garbage rather than something to buffer
MAX_FRAME = 1 << 20
