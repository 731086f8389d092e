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
import types
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


def _install():
    ib_client = types.ModuleType("breakout_kit.ib_client")
    ib_client.IBClient = FakeClient
    watcher = types.ModuleType("breakout_kit.watcher")
    watcher.BreakoutWatcher = TickingWatcher
    watcher.TradeSpec = fake_trade
    breakout = types.ModuleType("breakout_kit.breakout")
    breakout.BreakoutRule = fake_rule
    sys.modules.update({"breakout_kit.ib_client": ib_client, "breakout_kit.watcher": watcher,
                        "breakout_kit.breakout": breakout})

    from breakout_kit import cli

    @contextlib.asynccontextmanager
    async def fake_gateway(args, default_speed, say, **extra):
        say("using embedded paper gateway on 127.0.0.1:1 (fake)")
        yield SimpleNamespace(host="127.0.0.1", port=1, symbols=lambda: ["AAPL", "MSFT"])

    cli.embedded_gateway = fake_gateway
    return cli


if __name__ == "__main__":
    _install().main()
