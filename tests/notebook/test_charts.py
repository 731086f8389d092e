"""Charts without a browser: the one figure builder, backpressure against fake front-end acks, marks and closing."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nb_fakes import FakeSignal, FakeWatcher, ViewReplica, make_bar

from breakout_kit.cli.demo import write_html
from breakout_kit.core.backtest import backtest
from breakout_kit.core.breakout import BreakoutRule
from breakout_kit.notebook import CanvasChart, Dashboard, LiveChart, plots
from breakout_kit.notebook.chart import _FIELDS, _Ring
from breakout_kit.notebook.plotly_view import plotly_library


@pytest.fixture(autouse=True)
def _replicas(monkeypatch):
    ViewReplica.record(monkeypatch)  # every LiveChart view's content, rebuilt from the messages sent


RENDERERS = pytest.mark.parametrize("Chart", [LiveChart, CanvasChart], ids=["plotly", "canvas"])


def bars_frame(n: int = 60) -> pd.DataFrame:
    bars = [make_bar(i) for i in range(n)]
    return pd.DataFrame({c: [getattr(b, c) for b in bars] for c in ("open", "high", "low", "close", "volume")},
                        index=pd.DatetimeIndex([b.time for b in bars], name="time"))


@pytest.mark.parametrize("index_tz", [None, "UTC", "America/New_York"])
@pytest.mark.parametrize("tz", [None, "America/New_York", "Europe/London"])
def test_a_chart_seeded_from_a_backfill_labels_bars_like_bar_by_bar(index_tz, tz):
    frame = bars_frame(400)  # over a night and a DST change in London
    frame.index = pd.date_range("2026-03-28 20:00", periods=400, freq="3min", tz=index_tz)
    w = FakeWatcher()
    w.bars = frame
    seeded = LiveChart(w, window=300, throttle=0, tz=tz)
    one_by_one = LiveChart(FakeWatcher(), window=300, throttle=0, tz=tz)
    rows = frame.tail(300)
    for when, row in zip(rows.index, rows.itertuples()):
        epoch, wall = one_by_one._label(when)
        one_by_one._ring.push(epoch, (row.open, row.high, row.low, row.close, row.volume, np.nan, np.nan, wall))
    a, b = seeded._ring, one_by_one._ring
    assert (a.size, a.head, a.appended) == (b.size, b.head, b.appended) == (300, 0, 300)
    assert np.array_equal(a.t, b.t)
    for name in ("open", "close", "wall"):
        assert np.array_equal(a.cols[name], b.cols[name], equal_nan=True), name
    assert seeded.last_message["n"] == 300 and seeded.last_message["type"] == "bk-full"
    seeded.close()
    one_by_one.close()


# ---- one figure builder --------------------------------------------------------------------------------------
def test_backtest_demo_and_live_chart_all_build_with_the_one_builder(monkeypatch, tmp_path):
    calls = []
    real = plots.breakout_figure

    def spy(*args, **kwargs):
        calls.append(kwargs.get("widget", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "breakout_figure", spy)
    backtest(bars_frame(), BreakoutRule(lookback=5), take_profit_pct=1, stop_loss_pct=1).plot()
    assert calls == [False]
    w = FakeWatcher(symbol="ABC")
    w.bars = bars_frame()
    w.signals = [FakeSignal(make_bar(30).time, "up", 101.0, 101.2)]
    write_html([w], str(tmp_path / "demo.html"))
    assert calls == [False, False] and "ABC" in (tmp_path / "demo.html").read_text()
    LiveChart(FakeWatcher()).close()  # its figure is written out (no plotly import): see the next test
    assert calls == [False, False]


def approx_equal(a, b, path="") -> None:
    """Equal JSON-like structures, floats to 1e-12."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), (path, sorted(set(a) ^ set(b)))
        for k in a:
            approx_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            approx_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-12), path
    else:
        assert a == b, path


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("show_volume", [False, True])
@pytest.mark.parametrize("width", [None, 640])
def test_live_figure_is_what_plotly_builds_with_the_one_builder(compact, show_volume, width):
    markers = [plots.Markers("breakout up", [], [], "triangle-up", plots.MARKER_UP),
               plots.Markers("breakout down", [], [], "triangle-down", plots.MARKER_DOWN)]
    fig = plots.breakout_figure([], [], [], [], [], upper=[], lower=[], markers=markers,
                                lower_panel=plots.LowerPanel("volume", [], []) if show_volume else None,
                                title="ABC", height=300, compact=compact, width=width)
    fig.update_xaxes(type="date")
    if compact:
        fig.update_xaxes(automargin=True, nticks=4)
        fig.update_yaxes(automargin=True, nticks=5)
    built = {"data": fig.to_plotly_json()["data"], "layout": fig.layout.to_plotly_json()}
    mine = plots.live_spec(title="ABC", height=300, compact=compact, width=width, show_volume=show_volume)
    approx_equal(mine, built)


def test_figure_colors_legend_and_integer_volume():
    spec = plots.live_spec(title="X", height=400, compact=False, width=None, show_volume=True)
    data, layout = spec["data"], spec["layout"]
    assert tuple(t["name"] for t in data) == plots.LIVE_TRACES
    candle = data[0]
    candle_colors = {candle["increasing"]["line"]["color"], candle["decreasing"]["line"]["color"]}
    assert data[1]["line"]["color"] not in candle_colors and data[2]["line"]["color"] not in candle_colors
    r = backtest(bars_frame(), BreakoutRule(lookback=5), take_profit_pct=1, stop_loss_pct=1).plot()
    assert {r.data[1].line.color, r.data[2].line.color}.isdisjoint({"green", "red", *candle_colors})
    assert r.layout.legend.y < 0 and r.layout.legend.yanchor == "top"  # under the plot: the modebar can't cover it
    assert layout["legend"]["y"] < 0 and layout["legend"]["yanchor"] == "top"
    assert layout["yaxis2"]["tickformat"] == ",d"
    assert layout["xaxis"]["type"] == layout["xaxis2"]["type"] == "date"  # fed with epoch ms


@RENDERERS
async def test_live_chart_cuts_nights_out_of_the_time_axis(Chart):
    w = FakeWatcher()
    chart = Chart(w, window=100, throttle=0)
    day2 = [make_bar(i) for i in range(10)]
    for b in [make_bar(i) for i in range(10)]:
        w.feed(b)
    for b in day2:
        w.feed(type(b)(b.time + timedelta(days=1), b.open, b.high, b.low, b.close, b.volume))
    chart.flush()
    if isinstance(chart, LiveChart):  # the view cuts gaps over 4x the bar spacing (tested in test_livechart_js)
        assert chart.view.breaks and chart.n_bars == 20
        t = chart.view.replica.cols["t"]
        assert t[10] - t[9] == 86_400_000 - 9 * 60_000
    else:  # lightweight-charts places bars by index: a night takes no room; the bars go out in order
        assert chart.n_bars == 20
    chart.close()


# ---- backpressure ------------------------------------------------------------------------------------------
def ack_from_thread(chart, token: int) -> None:
    """What the front end's acknowledgement does, delivered on another thread like a kernel subshell."""
    def deliver():
        if isinstance(chart, LiveChart):
            plotly_library()._on_front_end_msg(None, {"type": "bk-ack", "acks": [[chart.view.key, token]]}, [])
        else:
            chart.canvas._on_front_end_msg(chart.canvas, {"type": "bk-ack", "acks": [[chart.canvas.key, token]]}, [])
    t = threading.Thread(target=deliver)
    t.start()
    t.join()


def token_of(chart) -> int:
    return chart.last_message["seq"]


async def until(predicate, timeout: float = 5.0) -> None:
    """Let the loop run (acks arrive through call_soon_threadsafe) until ``predicate()`` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0)


@RENDERERS
async def test_no_more_than_max_in_flight_and_bars_coalesce_until_the_ack(Chart):
    w = FakeWatcher()
    chart = Chart(w, window=500, throttle=0, max_in_flight=1)
    w.feed(make_bar(0))
    await until(lambda: chart.flushes == 1)
    ack_from_thread(chart, token_of(chart))  # the view drew it: from now on acks gate the updates
    await until(lambda: chart.acks == 1)
    w.feed(make_bar(1))
    await until(lambda: chart.flushes == 2)
    assert chart.in_flight == 1
    for i in range(2, 60):
        w.feed(make_bar(i))
    for _ in range(20):
        await asyncio.sleep(0)
    assert chart.flushes == 2 and chart.dirty and chart.coalesced >= 58  # waiting for the browser
    assert chart.n_bars == 2
    ack_from_thread(chart, token_of(chart))
    await until(lambda: chart.flushes == 3)
    assert chart.n_bars == 60 and chart.in_flight == 1  # all 58 waiting bars in one update
    chart.close()


@RENDERERS
async def test_lag_and_stale_flag_when_acks_stop_then_clear(Chart):
    w = FakeWatcher()
    chart = Chart(w, window=100, throttle=0, stale_after=0.2, resend_after=60)
    w.feed(make_bar(0))
    await until(lambda: chart.flushes == 1)
    ack_from_thread(chart, token_of(chart))
    await until(lambda: chart.acks == 1)
    assert chart.lag_s == 0 and not chart.stale
    w.feed(make_bar(1))
    await until(lambda: chart.flushes == 2)
    w.feed(make_bar(2))  # the browser never answers
    _, stale = await asyncio.wait_for(chart.stale_event, 5)
    assert stale and chart.stale and chart.lag_s > 0.2
    assert chart.flushes == 2
    ack_from_thread(chart, token_of(chart))  # the browser catches up: the waiting bar goes out, marked late
    await until(lambda: chart.flushes == 3)
    note = chart.last_message["note"]
    assert "behind" in note
    ack_from_thread(chart, token_of(chart))
    await until(lambda: not chart.stale)
    assert chart.lag_s == 0
    chart.close()


@RENDERERS
async def test_lost_update_is_sent_again_after_resend_after(Chart):
    w = FakeWatcher()
    chart = Chart(w, window=100, throttle=0, resend_after=0.3, stale_after=0.1)
    w.feed(make_bar(0))
    await until(lambda: chart.flushes == 1)
    ack_from_thread(chart, token_of(chart))
    w.feed(make_bar(1))
    await until(lambda: chart.flushes == 2)
    await until(lambda: chart.flushes == 3)  # no ack for 0.3 s: the page may have been reloaded
    # the third flush is the resend: no bar came meanwhile, and the view is reported behind
    assert chart.bars_received == 2 and chart.stale
    chart.close()


@RENDERERS
async def test_acks_from_a_closed_chart_and_stale_acks_are_harmless(Chart):
    w = FakeWatcher()
    chart = Chart(w, window=100, throttle=0)
    w.feed(make_bar(0))
    await until(lambda: chart.flushes == 1)
    ack_from_thread(chart, token_of(chart) - 5)  # an old acknowledgement releases nothing newer
    await until(lambda: chart.acks == 1)
    chart.close()
    ack_from_thread(chart, 10**6)
    await asyncio.sleep(0)
    assert chart.acks == 1


# ---- marks, dashboards, closing ----------------------------------------------------------------------------
@RENDERERS
async def test_stopped_watcher_is_marked_on_its_chart(Chart):
    w = FakeWatcher(symbol="ABC")
    chart = Chart(w, window=100, throttle=0)
    w.feed(make_bar(0))
    w._set_state("stopped")
    chart.flush()
    assert chart.last_message["stopped"] and "stopped" in chart.last_message["note"]
    w._set_state("live")
    chart.flush()
    assert not chart.stopped
    chart.close()


@RENDERERS
def test_close_releases_widget_and_subscriptions(Chart):
    w = FakeWatcher()
    chart = Chart(w)
    widget = chart.widget
    chart.close()
    assert widget.comm is None  # the widget is closed: its views go away with it
    assert len(w.bar_event) == 0 and len(w.signal_event) == 0 and len(w.state_event) == 0


async def test_dashboard_removes_one_tile_without_touching_the_others_and_credits_the_library_once():
    watchers = [FakeWatcher(symbol=s) for s in ("AAA", "BBB", "CCC")]
    dash = Dashboard(watchers, columns=3, renderer="canvas")
    slots = tuple(dash.grid.children)
    kept = [s.children for s in slots]
    dash.remove("BBB")
    assert tuple(dash.grid.children) == slots  # same slot objects: no view re-rendered
    assert slots[0].children == kept[0] and slots[2].children == kept[2] and slots[1].children == ()
    assert "BBB" not in dash.charts
    dash.add(FakeWatcher(symbol="DDD"))
    assert tuple(dash.grid.children) == slots and slots[1].children == (dash.charts["DDD"].widget,)
    assert all(not c.canvas.attribution for c in dash.charts.values())
    assert sum("Lightweight Charts" in getattr(c, "value", "") for c in dash.children) == 1
    dash.close()


def test_compact_plotly_tiles_grow_margins_to_fit_axis_labels():
    chart = LiveChart(FakeWatcher(), compact=True, show_volume=False, height=200)
    layout = chart.spec["layout"]
    assert layout["xaxis"]["automargin"] and layout["yaxis"]["automargin"]
    assert layout["xaxis"]["nticks"] == 4
    chart.close()


def test_live_chart_sends_deltas_not_the_window():
    w = FakeWatcher()
    chart = LiveChart(w, window=100, throttle=0)
    for i in range(3):
        w.feed(make_bar(i))
    chart.flush()
    view = chart.view.replica
    first = view.messages[-1]
    assert first["type"] == "bk-full" and first["n"] == 3  # nothing sent yet: the window
    w.feed(make_bar(3))
    w.feed(make_bar(4), None, FakeSignal(make_bar(4).time, "up", 100.2, 100.4))
    chart.flush()
    delta = view.messages[-1]
    assert (delta["type"], delta["n"], delta["replace"], len(delta["markers"])) == ("bk-delta", 2, 0, 1)
    assert delta["markers"][0][:2] == [make_bar(4).time.timestamp() * 1000, 100.4]  # epoch ms, no strings
    b = make_bar(4)  # the last bar revised: only it goes out, replacing the view's last row
    w.feed(type(b)(b.time, b.open, b.high + 1, b.low, b.close + 1, b.volume))
    chart.flush()
    revise = view.messages[-1]
    assert (revise["n"], revise["replace"], revise["markers"]) == (1, 1, [])
    assert view.cols["close"] == [make_bar(i).close for i in range(4)] + [b.close + 1]
    assert chart.bytes_sent == 8 * 8 * (3 + 2 + 1)  # 8 float64 columns per row sent
    for i in range(5, 250):  # more than the window between two updates: the view keeps the newest 100
        w.feed(make_bar(i))
    chart.flush()
    assert view.cols["t"] == [make_bar(i).time.timestamp() * 1000 for i in range(150, 250)]
    assert view.markers == []  # the marker scrolled out
    chart.close()


async def test_a_view_that_says_hello_gets_the_whole_window():
    w = FakeWatcher()
    chart = LiveChart(w, window=100, throttle=0)
    for i in range(5):
        w.feed(make_bar(i))
    chart.flush()
    threading.Thread(target=chart.view._on_front_end_msg, args=(chart.view, {"type": "bk-hello"}, [])).start()
    await until(lambda: chart.view.replica.messages[-1]["seq"] == 2)
    assert chart.view.replica.messages[-1]["type"] == "bk-full" and chart.view.replica.messages[-1]["n"] == 5
    chart.close()


async def test_charts_updated_in_one_loop_turn_share_one_message(monkeypatch):
    sent = []
    bus = plotly_library()
    monkeypatch.setattr(bus, "send", lambda content, buffers=None: sent.append((content, buffers)))
    watchers = [FakeWatcher(symbol=s) for s in ("AAA", "BBB", "CCC")]
    charts = [LiveChart(w, window=50, throttle=0) for w in watchers]
    await asyncio.sleep(0.01)
    sent.clear()
    for w in watchers:
        w.feed(make_bar(0))
    await until(lambda: sent)
    await asyncio.sleep(0.01)
    assert len(sent) == 1  # one message on the library's bus for the three charts
    content, buffers = sent[0]
    assert [item["key"] for item in content["items"]] == [c.view.key for c in charts] and len(buffers) == 3
    for c in charts:
        c.close()


def test_dashboard_takes_a_zone_name_for_its_feed():
    w = FakeWatcher(symbol="ABC")
    dash = Dashboard([w], renderer="canvas", tz="America/New_York")
    w.feed(make_bar(0), None, FakeSignal(make_bar(0).time, "up", 100.1, 100.2))  # 14:30 UTC
    assert "09:30" in dash.feed.value  # New York time, like the charts' axes
    dash.close()


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 9), pushes=st.lists(st.tuples(st.integers(0, 3), st.floats(-1e6, 1e6)), max_size=40),
       back=st.integers(0, 12), names=st.permutations(_FIELDS))
def test_ring_rows_are_the_rows_pushed_in_any_wrap(capacity, pushes, back, names):
    ring, kept = _Ring(capacity), []          # kept: (epoch, values) of every row ever appended
    epoch = 0.0
    for step, value in pushes:
        epoch += step                         # a step of 0 revises the newest row in place
        values = tuple(value + k for k in range(len(_FIELDS)))
        if kept and kept[-1][0] == epoch:
            kept[-1] = (epoch, values)
        else:
            kept.append((epoch, values))
        ring.push(epoch, values)
    start = max(0, ring.appended - back)
    got = ring.rows(start, names)
    held = kept[max(start, len(kept) - capacity):]
    want = np.array([[v[_FIELDS.index(name)] for _, v in held] for name in names]).reshape(len(names), len(held))
    assert np.array_equal(got, want)
    got[:] = np.nan                           # a copy: writing to it leaves the ring alone
    assert np.array_equal(ring.rows(start, names), want)
