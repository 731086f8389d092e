"""Panel, chart and dashboard logic against a fake watcher with the pinned event signatures (no gateway)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pandas as pd
import pytest
from nb_fakes import FakeClient, FakeSignal, FakeWatcher, ViewReplica, make_bar

from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.notebook import CanvasChart, ControlPanel, Dashboard, LiveChart


def errors_text(panel) -> str:
    """The panel's error lines, newest first, with any folded tracebacks."""
    return "\n".join(e.line + "\n" + e.traceback for e in panel.errors.entries)


async def next_flush(chart: LiveChart, timeout: float = 5.0) -> None:
    """Wait until the chart's scheduled (throttled) flush has run."""
    done = asyncio.get_running_loop().create_future()
    original = chart.flush

    def flush_and_tell():
        original()
        if not done.done():
            done.set_result(None)

    chart.flush = flush_and_tell
    try:
        await asyncio.wait_for(done, timeout)
    finally:
        chart.flush = original


@pytest.fixture(autouse=True)
def _replicas(monkeypatch):
    ViewReplica.record(monkeypatch)  # every LiveChart view's content, rebuilt from the messages sent


RENDERERS = pytest.mark.parametrize("Chart", [LiveChart, CanvasChart], ids=["plotly", "canvas"])


def drawn(chart) -> dict:
    """What the chart's views hold, rebuilt from the updates sent: x labels (wall clock), upper, volume, close."""
    r = chart.widget.replica
    return {"x": r.x, "upper": r.cols["upper"], "volume": r.cols["volume"], "close": r.cols["close"]}


@RENDERERS
async def test_chart_window_markers_and_throttle(Chart):
    w = FakeWatcher(symbol="ABC")
    chart = Chart(w, window=50, throttle=0.05)
    assert chart.n_bars == 0
    for i in range(120):
        sig = FakeSignal(make_bar(i).time, "up", 101.0, make_bar(i).close) if i in (10, 100, 110) else None
        w.feed(make_bar(i), (101.0, 99.0) if i >= 20 else None, sig)
    assert chart.flushes == 0 and chart.dirty  # 120 bars only marked it dirty: one flush pending
    await next_flush(chart)
    assert chart.flushes == 1 and not chart.dirty
    assert chart.n_bars == 50 and chart.bars_received == 120
    sent = drawn(chart)
    x = sent["x"]
    assert x[0] == make_bar(70).time.replace(tzinfo=None).isoformat() and x[-1].startswith("2026-11-23T16:29")
    assert chart.n_markers == 2  # the signal at bar 10 scrolled out of the window
    assert sent["upper"][-3:] == [101.0, 101.0, 101.0]
    assert sent["volume"][-1] == make_bar(119).volume
    chart.close()
    w.feed(make_bar(500))
    assert chart.bars_received == 120 and not chart.dirty


@RENDERERS
async def test_chart_same_time_bar_is_revised_not_appended(Chart):
    w = FakeWatcher()
    chart = Chart(w, window=10, throttle=0)
    w.feed(make_bar(0))
    b = make_bar(0)
    w.feed(SimpleNamespace(time=b.time, open=b.open, high=b.high + 1, low=b.low, close=b.close + 1, volume=5))
    chart.flush()
    assert chart.n_bars == 1 and drawn(chart)["close"][0] == pytest.approx(b.close + 1)
    chart.close()


@RENDERERS
def test_chart_seeds_from_watcher_history_and_validates(Chart):
    w = FakeWatcher()
    bars = [make_bar(i) for i in range(30)]
    w.bars = pd.DataFrame({"open": [b.open for b in bars], "high": [b.high for b in bars],
                           "low": [b.low for b in bars], "close": [b.close for b in bars],
                           "volume": [b.volume for b in bars]},
                          index=pd.DatetimeIndex([b.time for b in bars], name="time"))
    w.signals = [FakeSignal(bars[25].time, "down", 99.0, 98.9)]
    chart = Chart(w, window=20, tz="America/New_York")  # no loop needed: seeding flushes at once
    assert chart.n_bars == 20 and chart.n_markers == 1
    assert drawn(chart)["x"][-1] == "2026-11-23T09:59:00"  # 14:59 UTC shown as New York wall clock
    chart.close()
    with pytest.raises(ValueError, match="window"):
        Chart(w, window=1)


@RENDERERS
def test_chart_update_cost_independent_of_bars_seen(Chart):
    w = FakeWatcher()
    chart = Chart(w, window=500, throttle=10)
    bars = [make_bar(i) for i in range(50_100)]

    def cost(start: int) -> float:
        best = float("inf")
        for k in range(start, start + 30):
            t = time.perf_counter()
            w.feed(bars[k], (101.0, 99.0))
            chart.flush()
            best = min(best, time.perf_counter() - t)
        return best

    for b in bars[:970]:
        w.feed(b, (101.0, 99.0))
    at_1k = cost(970)
    for b in bars[1000:50_000]:
        w.feed(b, (101.0, 99.0))
    at_50k = cost(50_000)
    print(f"{Chart.__name__} per-update cost: 1k bars {at_1k * 1e3:.2f} ms, 50k bars {at_50k * 1e3:.2f} ms")
    assert chart.bars_received == 50_030 and chart.n_bars == 500
    assert at_50k <= 2 * at_1k
    chart.close()


def fake_panel(**kwargs) -> ControlPanel:
    return ControlPanel(watcher_factory=FakeWatcher, throttle=0.05, **kwargs)


async def test_panel_start_button_runs_watcher_and_chart_gets_bars_and_marker():
    panel = fake_panel(symbols=["AAA", "BBB"])
    panel.lookback.value, panel.trigger.value, panel.direction.value = 7, "high", "both"
    panel.symbol.submit("start", "aaa")  # what a Start click (or Enter) sends, with the box's text
    await panel.settle()
    watcher = panel.watchers["AAA"]
    assert panel.watchers == {"AAA": watcher} and watcher.rule == BreakoutRule(7, "high", "both")
    await asyncio.sleep(0)  # let the watcher's task start
    assert watcher.state == "live"
    chart = panel.charts["AAA"]
    for i in range(30):
        sig = FakeSignal(make_bar(i).time, "up", 101.0, 101.5) if i == 25 else None
        watcher.feed(make_bar(i), None, sig)
    await next_flush(chart)
    assert chart.n_bars == 30 and chart.n_markers == 1
    panel._refresh_table()
    assert "AAA" in panel.table.value and "live" in panel.table.value and "up @ 101.50" in panel.table.value
    panel.symbol.submit("stop", "AAA")
    await panel.settle()
    await asyncio.wait_for(watcher._task, 5)
    assert watcher.state == "stopped" and "stopped" in panel.table.value
    await panel.aclose()
    assert errors_text(panel) == ""


async def test_panel_errors_go_to_output():
    panel = fake_panel()
    panel.symbol.submit("start", "  ")  # the browser disables Start on an empty box; code may still try
    await panel.settle()
    assert panel.errors.text() == "start: ValueError: enter a symbol first"

    watcher = panel.start("ZZZ")
    with pytest.raises(ValueError, match="already watching ZZZ"):
        panel.start("ZZZ")
    await asyncio.sleep(0)
    watcher.fail(RuntimeError("feed exploded"))
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(watcher._task, 5)
    await asyncio.sleep(0)  # done-callbacks run on the next loop turn
    assert panel.errors.entries[0].line == "watcher ZZZ: RuntimeError: feed exploded"  # newest first
    assert "feed exploded" in panel.errors.entries[0].traceback  # folded under its line
    assert "failed: RuntimeError" in panel.table.value
    panel.symbol.submit("stop", "")  # the sync handler's error is reported, not raised
    await panel.settle()
    assert errors_text(panel).count("enter a symbol first") == 2
    await panel.aclose()


async def test_panel_qualify_failure_and_trading_controls():
    class Client(FakeClient):
        async def qualify(self, symbol):
            raise ValueError(f"unknown symbol {symbol}")

        async def matching_symbols(self, pattern):
            calls.append(pattern)
            return [s for s in ("AAPL", "AMZN", "MSFT") if s.startswith(pattern.upper())]

    calls = []
    panel = fake_panel(client=Client())
    assert all(w.disabled for w in panel._trading_widgets)
    assert "connected" in panel.status.value and "read-only" in panel.status.value
    assert "DU***4567" in panel.status.value and "1234567" not in panel.status.value  # account masked
    panel.symbol.value = "M"
    panel.symbol.value = "A"  # typed on before the debounce ran out: only "A" is asked
    await panel.settle()
    await asyncio.wait_for(panel.tasks.last, 5)
    assert calls == ["A"]
    assert {"AAPL", "AMZN"} <= set(panel.symbol.options) and "MSFT" not in panel.symbol.options
    panel.symbol.submit("start", "NOPE")
    await panel.settle()
    assert panel.errors.text() == "start NOPE: ValueError: unknown symbol NOPE"  # one clear line
    assert panel.watchers == {}

    Client.trading = True
    trading_panel = fake_panel(client=Client())
    assert not any(w.disabled for w in trading_panel._trading_widgets)
    assert trading_panel.trade_spec() is None  # enabled but not ticked


@pytest.mark.parametrize("renderer", ["plotly", "canvas"])
async def test_dashboard_follows_panel_and_feeds_signals(renderer):
    panel = fake_panel(show_charts=False)
    first = panel.start("AAA")
    dash = Dashboard(panel, columns=2, window=20, throttle=0.01, renderer=renderer)
    second = panel.start("BBB")
    assert set(dash.charts) == {"AAA", "BBB"} and len(dash.grid.children) == 2
    for i in range(5):
        first.feed(make_bar(i))
        second.feed(make_bar(i))
    second.feed(make_bar(5), (100.0, 99.0), FakeSignal(make_bar(5).time, "down", 99.0, 98.5))
    assert dash.signals[0][0] == "BBB" and "98.50" in dash.feed.value
    dash.flush()
    assert dash.charts["BBB"].n_bars == 6 and dash.charts["BBB"].n_markers == 1
    dash.close()
    await panel.aclose()
    assert first.state == second.state == "stopped"


async def test_panel_next_signal_and_wait_bars():
    panel = fake_panel(show_charts=False)
    a = panel.start("AAA")
    waiting = asyncio.ensure_future(panel.next_signal(timeout=5))
    await asyncio.sleep(0)
    b = panel.start("BBB")  # started while waiting: followed too
    sig = FakeSignal(make_bar(3).time, "up", 100.0, 100.5)
    b.feed(make_bar(3), None, sig)
    assert await waiting == (b, sig)
    with pytest.raises(asyncio.TimeoutError):
        await panel.next_signal(timeout=0.01)

    bars = asyncio.ensure_future(panel.wait_bars(2, timeout=5))
    await asyncio.sleep(0)
    a.feed(make_bar(4))
    a.feed(make_bar(5))
    b.feed(make_bar(4))
    await asyncio.sleep(0)
    assert not bars.done()  # BBB has delivered only one bar
    b.feed(make_bar(5))
    await bars
    a.stop()
    await asyncio.sleep(0)
    waiting_b = asyncio.ensure_future(panel.wait_bars(1, timeout=5))
    await asyncio.sleep(0)
    b.fail(RuntimeError("lost"))
    with pytest.raises(RuntimeError, match="lost"):
        await waiting_b
    await panel.aclose()


@RENDERERS
async def test_chart_reloads_backfill_when_watcher_goes_live(Chart):
    w = FakeWatcher()
    chart = Chart(w, window=20, throttle=0)
    assert chart.n_bars == 0
    bars = [make_bar(i) for i in range(30)]
    w.bars = pd.DataFrame({c: [getattr(b, c) for b in bars] for c in ("open", "high", "low", "close", "volume")},
                          index=pd.DatetimeIndex([b.time for b in bars], name="time"))
    w._set_state("live")  # the backfill came without bar events
    assert chart.n_bars == 20 and drawn(chart)["close"][-1] == bars[-1].close
    w.feed(make_bar(30))
    chart.flush()
    assert chart.n_bars == 20 and drawn(chart)["x"][-1] == make_bar(30).time.replace(tzinfo=None).isoformat()
    chart.close()


def test_gateway_speed_env_override(monkeypatch):
    from breakout_kit.connection import SPEED_ENV, _env_speed

    monkeypatch.delenv(SPEED_ENV, raising=False)
    assert _env_speed(300.0) == 300.0 and _env_speed(None) is None
    monkeypatch.setenv(SPEED_ENV, "1200")
    assert _env_speed(300.0) == 1200.0
    for bad in ("fast", "0", "-5"):
        monkeypatch.setenv(SPEED_ENV, bad)
        with pytest.raises(ValueError, match=SPEED_ENV):
            _env_speed(300.0)


async def test_next_signal_skips_backfill_history_unless_asked():
    panel = fake_panel(show_charts=False)
    a = panel.start("AAA")
    live = asyncio.ensure_future(panel.next_signal(timeout=5))
    old = asyncio.ensure_future(panel.next_signal(timeout=5, history=True))
    await asyncio.sleep(0)
    a._set_state("backfilling")
    replayed = FakeSignal(make_bar(1).time, "up", 100.0, 100.1)
    a.feed(make_bar(1), None, replayed)
    assert await old == (a, replayed)
    assert not live.done()  # a replayed signal is history: not "the next breakout", never traded
    a._set_state("live")
    fresh = FakeSignal(make_bar(2).time, "up", 100.1, 100.2)
    a.feed(make_bar(2), None, fresh)
    assert await live == (a, fresh)
    await panel.aclose()


async def test_dashboard_feed_uses_the_panel_time_zone():
    panel = fake_panel(show_charts=False, tz="America/New_York")
    w = panel.start("AAA")
    dash = Dashboard(panel, throttle=0.01)
    w.feed(make_bar(0), None, FakeSignal(make_bar(0).time, "up", 100.0, 100.1))  # 14:30 UTC
    assert "09:30" in dash.feed.value and "14:30" not in dash.feed.value
    dash.close()
    await panel.aclose()
