"""connect(): the one "your TWS, or the embedded paper gateway" path, for notebooks and the CLI alike.

(architecture.md calls this module connect.py; it is connection.py because a submodule named ``connect`` would,
once imported, replace the card's ``breakout_kit.connect`` function with the module object.)

With a port (argument or ``IB_PORT``) it connects to that TWS / IB Gateway. Otherwise it starts the embedded
``PaperGateway`` on a free loopback port on the running loop and connects to it; ``await client.disconnect()``
then stops that gateway too.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from breakout_kit.client.config import env_port
from breakout_kit.client.ib_client import IBClient

SPEED_ENV = "BREAKOUT_KIT_GATEWAY_SPEED"  # overrides the embedded gateway's speed (tests run notebooks faster)
_embedded: dict[int, Any] = {}  # id(client) -> the PaperGateway connect() started for it


def uses_embedded(port: int | None = None, *, embedded: bool | None = None) -> bool:
    """True when ``connect`` would start the embedded gateway: forced, or no port given and no ``IB_PORT``."""
    if embedded is not None:
        return bool(embedded)
    return port is None and env_port() is None


async def connect(*, host: str | None = None, port: int | None = None, client_id: int | None = None,
                  trading: bool = False, embedded: bool | None = None, speed: float | None = None,
                  seed: int | None = None, start: datetime | str | None = None, pacing: str | None = None,
                  say: Callable[[str], None] | None = None, **client_kwargs: Any) -> IBClient:
    """Connect and return a connected ``IBClient``.

    - ``host``/``port``/``client_id``: your TWS / IB Gateway (else env ``IB_HOST``/``IB_PORT``/``IB_CLIENT_ID``).
    - No port anywhere, or ``embedded=True``: start the embedded ``PaperGateway`` (``speed`` = simulated seconds
      per real second, ``seed``/``start`` fix the prices, ``pacing`` "strict" or "off") and connect to it.
      ``say`` (e.g. ``print``) gets one line saying so. Env ``BREAKOUT_KIT_GATEWAY_SPEED`` replaces ``speed``
      (the test suite runs the tutorial notebooks faster with it).
    - ``trading=True`` allows (paper) orders; a live account also needs ``allow_live=True``. Other keyword
      arguments go to ``IBClient``.

    ``await client.disconnect()`` disconnects and stops the embedded gateway, if one was started.
    """
    flags = dict(readonly=not trading, trading=trading, **client_kwargs)
    if not uses_embedded(port, embedded=embedded):
        client = IBClient(host, port, client_id, **flags)
        await client.connect()
        return client

    from breakout_kit.gateway import PaperGateway

    speed = _env_speed(speed)
    gw_args = {k: v for k, v in {"speed": speed, "seed": seed, "start": start, "pacing": pacing}.items()
               if v is not None}
    gw = PaperGateway(host="127.0.0.1", port=0, **gw_args)
    await gw.start()
    if say is not None:
        say(f"using embedded paper gateway on {gw.host}:{gw.port} at {gw.clock.speed:g}x "
            f"(set IB_PORT to use your TWS / IB Gateway)")
    # the client paces historical requests in gateway time: at 300x its pacing windows shrink 300-fold
    flags.setdefault("clock_speed", gw.clock.speed)
    client = IBClient("127.0.0.1", gw.port, client_id, **flags)

    async def stop_gateway() -> None:
        _embedded.pop(id(client), None)
        await gw.stop()

    client.call_on_close(stop_gateway)
    _embedded[id(client)] = gw
    try:
        await client.connect()
    except BaseException:
        await asyncio.shield(client.disconnect())
        raise
    return client


def _env_speed(speed: float | None) -> float | None:
    raw = os.environ.get(SPEED_ENV, "").strip()
    if not raw:
        return speed
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {SPEED_ENV}={raw!r} is not a number") from None
    if not value > 0:
        raise ValueError(f"environment variable {SPEED_ENV} must be > 0, got {raw!r}")
    return value


def embedded_gateway(client: IBClient) -> Any:
    """The ``PaperGateway`` that ``connect()`` started for ``client``, or None (a real TWS)."""
    return _embedded.get(id(client))


async def disconnect(client: IBClient) -> None:
    """``await client.disconnect()`` (kept for older notebooks): also stops the embedded gateway."""
    await client.disconnect()
