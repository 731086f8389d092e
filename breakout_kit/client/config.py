"""Connection and safety settings, from explicit arguments first and the environment second."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7497  # TWS paper port
DEFAULT_CLIENT_ID = 1


def _env_int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


def mask_account(account: str) -> str:
    """``DU1234567`` -> ``DU***4567``: enough to tell accounts apart in logs without exposing them."""
    return account[:2] + "***" + account[-4:] if len(account) > 6 else "***"


def env_port() -> int | None:
    """The IB port from ``IB_PORT``, or None when unset (then the CLI/notebooks use the embedded gateway)."""
    return _env_int("IB_PORT", None)


@dataclass(frozen=True)
class Settings:
    """Where to connect and what is allowed. ``None`` fields are filled from IB_HOST / IB_PORT / IB_CLIENT_ID."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    client_id: int = DEFAULT_CLIENT_ID
    readonly: bool = True
    trading: bool = False
    allow_live: bool = False

    @classmethod
    def resolve(cls, host: str | None = None, port: int | None = None, client_id: int | None = None,
                **flags) -> Settings:
        host = host or os.environ.get("IB_HOST", "").strip() or DEFAULT_HOST
        port = port if port is not None else _env_int("IB_PORT", DEFAULT_PORT)
        client_id = client_id if client_id is not None else _env_int("IB_CLIENT_ID", DEFAULT_CLIENT_ID)
        assert port is not None and client_id is not None      # the defaults are ints
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is out of range 1..65535")
        return cls(host=host, port=port, client_id=client_id, **flags)
