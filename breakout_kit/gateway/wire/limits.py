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
#: API clients one gateway serves at once, as TWS (the next one is told so and disconnected)
MAX_CLIENTS = 32
#: connections that have not sent startApi yet; a newcomer beyond it pushes out the oldest, so idle sockets can
#: never lock real clients out (and a flood of them never exhausts the process's file descriptors)
MAX_PENDING = 64
#: TWS's message rate: more than this many requests in a second gets error 100 and the connection is closed
MAX_MESSAGES_PER_SECOND = 50
ERR_RATE = "Max rate of messages per second has been exceeded."
