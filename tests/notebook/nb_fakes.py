"""A stand-in watcher with the pinned event signatures, for testing views without a gateway."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from breakout_kit.client.iblib import Event


@dataclass(frozen=True)
class FakeBar:
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class FakeSignal:
    time: datetime
    direction: str
    level: float
    price: float


T0 = datetime(2026, 11, 23, 14, 30, tzinfo=timezone.utc)


def make_bar(i: int, base: float = 100.0) -> FakeBar:
    """Bar i of a gentle saw-tooth series, one minute apart."""
    c = base + (i % 17) * 0.1
    return FakeBar(T0 + timedelta(minutes=i), c - 0.05, c + 0.2, c - 0.2, c, 1000 + i % 7)


class FakeWatcher:
    """Emits bar/signal/state events like BreakoutWatcher; bars are pushed by the test with feed()."""

    def __init__(self, client=None, symbol="FAKE", rule=None, bar_size="1 min", trade=None, **kwargs):
        self.client, self.symbol, self.rule, self.bar_size, self.trade = client, symbol, rule, bar_size, trade
        self.bar_event = Event("bar_event")
        self.signal_event = Event("signal_event")
        self.state_event = Event("state_event")
        self.state = "starting"
        self.error = None
        self.signals: list = []
        self.last_bar = None
        self.bars_seen = 0
        self.bars = None
        self._task = None
        self._done = None

    @property
    def replaying(self) -> bool:
        """Like BreakoutWatcher.replaying: tests put a fake into its first backfill with _set_state("backfilling")."""
        return self.state == "backfilling"

    def _set_state(self, state):
        self.state = state
        self.state_event.emit(self, state)

    def feed(self, bar, channel=None, signal=None):
        self.last_bar = bar
        self.bars_seen += 1
        self.bar_event.emit(self, bar, channel)
        if signal is not None:
            self.signals.append(signal)
            self.signal_event.emit(self, signal)

    def fail(self, exc: BaseException):
        self._done.set_exception(exc)

    async def _run(self):
        self._set_state("live")
        try:
            await self._done
        except Exception as exc:
            self.error = exc
            self._set_state("failed")
            raise
        self._set_state("stopped")

    @property
    def task(self):
        return self._task

    def start(self):
        self._done = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self._task

    def stop(self):
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def __await__(self):
        return self._task.__await__()

    async def aclose(self):
        self.stop()
        await self


class FakeClient:
    """What views need of IBClient (``watch.protocols.ClientView``), with nothing behind it: qualifies every
    symbol, matches none, has no scanner. Tests subclass it to change one thing."""

    state, account, paper, trading = "connected", "DU1234567", True, False

    def __init__(self):
        from types import SimpleNamespace

        self.state_event = Event("state")
        self.settings = SimpleNamespace(host="127.0.0.1", port=4002)

    async def qualify(self, symbol):
        return symbol

    async def matching_symbols(self, pattern):
        return []

    def subscribe_scan(self, scan_code, rows=10, **limits):
        raise NotImplementedError("FakeClient has no scanner")


class ViewReplica:
    """What a LiveChart view holds, rebuilt from the messages the kernel sent (the protocol of
    ``static/livechart.js``, in Python). ``record(monkeypatch)`` attaches one to every PlotlyView as ``.replica``."""

    COLS = ("t", "open", "high", "low", "close", "volume", "upper", "lower")

    def __init__(self, window: int = 500):
        self.window = window
        self.seq = None
        self.cols = {k: [] for k in self.COLS}
        self.markers: list = []
        self.note = ""
        self.messages: list[dict] = []

    def apply(self, msg: dict, buffers) -> None:
        import numpy as np

        self.messages.append(msg)
        if msg["type"] == "bk-full":
            self.cols = {k: [] for k in self.COLS}
            self.markers = []
            self.window = msg["window"]
        else:
            assert msg["type"] == "bk-delta" and msg["base"] == self.seq, (msg, self.seq)
        n = msg["n"]
        block = np.frombuffer(buffers[0], dtype="<f8").reshape(len(self.COLS), n)
        for k, name in enumerate(self.COLS):
            col = self.cols[name]
            del col[len(col) - msg["replace"]:]
            col.extend(block[k].tolist())
            del col[:max(0, len(col) - self.window)]
        first = self.cols["t"][0] if self.cols["t"] else float("inf")
        self.markers = [m for m in self.markers + msg["markers"] if m[0] >= first]
        self.seq, self.note = msg["seq"], msg["note"]

    @property
    def x(self) -> list[str]:
        """The times as naive ISO wall-clock labels (what the axis shows)."""
        return [datetime.fromtimestamp(t / 1000, timezone.utc).replace(tzinfo=None).isoformat()
                for t in self.cols["t"]]

    @staticmethod
    def record(monkeypatch) -> None:
        """Every chart widget (Plotly and canvas) gets a ``.replica`` of what its views hold."""
        from breakout_kit.notebook.canvas import CanvasWidget
        from breakout_kit.notebook.plotly_view import PlotlyView

        def replica(widget) -> ViewReplica:
            return widget.__dict__.setdefault("replica", ViewReplica())

        for cls in (PlotlyView, CanvasWidget):
            def queue(self, content, payload, real=cls.queue):
                replica(self).apply(content, [payload])
                return real(self, content, payload)

            monkeypatch.setattr(cls, "queue", queue)
