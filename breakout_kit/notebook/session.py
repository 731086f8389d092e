"""connect(): one await from a notebook cell to a connected IBClient — a real TWS when IB_PORT is set, otherwise
the embedded paper gateway started in-process on the kernel's own loop."""

from __future__ import annotations

import inspect
import os

from breakout_kit.config import env_port

SPEED_ENV = "BREAKOUT_KIT_GATEWAY_SPEED"  # overrides the embedded gateway's speed (tests run notebooks faster)
_embedded: dict[int, object] = {}  # id(client) -> the PaperGateway connect() started for it


async def connect(*, port: int | None = None, client_id: int | None = None, trading: bool = False,
                  speed: float | None = None, seed: int | None = None, start=None, pacing: str | None = None,
                  **client_kwargs):
    """Connect and return an ``IBClient``.

    With ``port`` or env ``IB_PORT``: connect to that TWS / IB Gateway. Otherwise start the embedded
    ``PaperGateway`` on a free loopback port on the running loop (``speed`` = simulated seconds per real second,
    ``seed``/``start`` fix the prices, ``pacing`` "strict" or "off") and connect to it.
    ``trading=True`` allows paper orders. Undo with ``await disconnect(client)``.
    Env ``BREAKOUT_KIT_GATEWAY_SPEED`` (a number), when set, replaces ``speed``: the test suite uses it to run the
    tutorial notebooks faster without editing them.
    """
    from breakout_kit.ib_client import IBClient

    flags = dict(readonly=not trading, trading=trading, **client_kwargs)
    target = port if port is not None else env_port()
    if target is not None:
        client = IBClient(port=target, client_id=client_id, **flags)
        await client.connect()
        return client

    from breakout_kit.gateway import PaperGateway

    speed = _env_speed(speed)
    gw_args = {k: v for k, v in {"speed": speed, "seed": seed, "start": start, "pacing": pacing}.items() if v is not None}
    gw = PaperGateway(host="127.0.0.1", port=0, **gw_args)
    await gw.start()
    if "clock_speed" in inspect.signature(IBClient).parameters:
        # The client paces historical requests in gateway time: at 300x its pacing windows shrink 300-fold.
        flags.setdefault("clock_speed", gw.clock.speed)
    client = IBClient("127.0.0.1", gw.port, client_id, **flags)
    try:
        await client.connect()
    except BaseException:
        await gw.stop()
        raise
    _embedded[id(client)] = gw
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


def embedded_gateway(client):
    """The PaperGateway that connect() started for ``client``, or None (real TWS)."""
    return _embedded.get(id(client))


async def disconnect(client) -> None:
    """Disconnect ``client`` and stop the embedded gateway connect() started for it (if any). Idempotent."""
    try:
        await client.disconnect()
    finally:
        gw = _embedded.pop(id(client), None)
        if gw is not None:
            await gw.stop()
