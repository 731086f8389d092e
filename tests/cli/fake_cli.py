"""Run the real ``breakout_kit.cli.main()`` with the IB side replaced by in-process fakes.

Tests the CLI's own machinery (stdin readers, prompt, printing above the prompt, signals, shutdown) as a real
process, independent of the gateway and IBClient. Fake watchers emit a SIGNAL every FAKE_SIGNAL_EVERY seconds.
Usage: python tests/cli/fake_cli.py [cli args...]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from datetime import datetime, timezone
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(__file__))

from cli_fakes import FakeClient, FakeWatcher, fake_rule, fake_trade

EVERY = float(os.environ.get("FAKE_SIGNAL_EVERY", "0.3"))


class TickingWatcher(FakeWatcher):
    async def _run(self):
        self.state = "live"
        self.state_event.emit(self, "live")
        n = 0
        while not self._stopped.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), EVERY)
            if not self._stopped.is_set():
                n += 1
                self.emit(SimpleNamespace(time=datetime(2026, 11, 23, 15, n % 60, tzinfo=timezone.utc),
                                          direction="up", level=100.0 + n, price=100.5 + n))
        self.state = "stopped"


async def fake_connect(*, say, embedded=None, **kwargs):
    """Stands in for breakout_kit.connection.connect: says what the real one says, returns a connected fake."""
    if embedded or kwargs.get("port") is None:
        say("using embedded paper gateway on 127.0.0.1:1 (fake)")
    client = FakeClient(kwargs.get("host"), kwargs.get("port"), kwargs.get("client_id"),
                        trading=kwargs.get("trading", False))
    await client.connect()
    return client


def main() -> None:
    """``breakout_kit.cli.main`` with the fakes handed in (the real stdin, prompt, signals and shutdown)."""
    from breakout_kit import cli

    code = asyncio.run(cli.run(sys.argv[1:], connect_fn=fake_connect, watcher_factory=TickingWatcher,
                               rule_factory=fake_rule, trade_factory=fake_trade))
    sys.stdout.flush()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
