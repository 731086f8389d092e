"""LiveChart's front end (static/livechart.js) run in node with a fake Plotly: it asks for the window, applies
deltas, acknowledges what it drew, and stops acknowledging when drawing fails (so the kernel holds back)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from nb_fakes import FakeSignal, FakeWatcher, ViewReplica, make_bar

from breakout_kit.notebook import LiveChart
from breakout_kit.notebook.plotly_view import PlotlyLibrary, PlotlyView

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture
def module(tmp_path) -> Path:
    """The view's module exactly as the page gets it (deltas.js + livechart.js), as a file node can import."""
    path = tmp_path / "livechart.mjs"
    path.write_text(PlotlyView._esm)
    return path


@pytest.fixture
def library(tmp_path) -> Path:
    """The library's module (plotly-loader.js: the bus) as the page gets it."""
    path = tmp_path / "plotly-loader.mjs"
    path.write_text(PlotlyLibrary._esm)
    return path


def run_view(module: Path, chart: LiveChart, messages: list, *, library: Path | None = None, **options) -> dict:
    """Run the views in node (livechart_harness.mjs; ``options`` as it reads them: broken, views, drawMs, ...)."""
    payload = {"spec": chart.spec, "window": chart.window, **options,
               "messages": [[m, base64.b64encode(b).decode()] for m, b in messages]}
    args = ["node", str(HERE / "livechart_harness.mjs"), module.as_uri(), *([library.as_uri()] if library else [])]
    out = subprocess.run(args, input=json.dumps(payload), capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.fixture
def fed(monkeypatch):
    """A LiveChart of 100 bars fed 6 bars in 3 flushes (5 bars; a bar and a signal; that bar revised): the chart
    and the updates it sent, in order (to replay to the views in node)."""
    ViewReplica.record(monkeypatch)
    w = FakeWatcher()
    chart = LiveChart(w, window=100, throttle=0)
    sent = []
    chart.view.queue = lambda content, payload: sent.append((content, bytes(payload)))
    for i in range(5):
        w.feed(make_bar(i))
    chart.flush()
    w.feed(make_bar(5), None, FakeSignal(make_bar(5).time, "up", 100.4, 100.5))
    chart.flush()
    b = make_bar(5)
    w.feed(type(b)(b.time, b.open, b.high, b.low, b.close + 2, b.volume))  # the last bar revised
    chart.flush()
    yield chart, sent
    chart.close()


def test_view_asks_for_the_window_applies_deltas_and_acknowledges_each_draw(module, fed):
    chart, sent = fed
    r = run_view(module, chart, sent)
    assert r["helloFirst"]  # a new view asks for the window
    assert [m["seq"] for m in r["sent"] if m["type"] == "bk-ack"] == [1, 2, 3]  # one ack per drawn update
    last = r["draws"][-1]
    assert (last["n"], last["up"]) == (6, 1)
    assert last["close"] == pytest.approx(make_bar(5).close + 2) and last["last"] == make_bar(5).time.timestamp() * 1e3
    assert r["breaks"] == [{"bounds": [240e3, 86400e3]}]  # a night cut out: from one spacing after the close
    assert r["stale"] is False  # a delta on top of nothing does not apply (the view asks again)


def test_a_view_that_cannot_draw_does_not_acknowledge(module, fed):
    chart, sent = fed
    r = run_view(module, chart, sent, broken=True)
    assert [m for m in r["sent"] if m["type"] == "bk-ack"] == []


def test_a_delta_out_of_order_makes_the_view_ask_for_the_window(module, fed):
    chart, sent = fed
    r = run_view(module, chart, [sent[0], sent[2]])  # the update in between is lost
    assert [m["type"] for m in r["sent"]] == ["bk-hello", "bk-ack", "bk-hello"]


def frames_per_message(draws: list[dict]) -> dict[int, list[int]]:
    """Message index -> how many draws each animation frame made for it."""
    out: dict[int, dict[int, int]] = {}
    for d in draws:
        per_frame = out.setdefault(d["message"], {})
        per_frame[d["frame"]] = per_frame.get(d["frame"], 0) + 1
    return {m: list(f.values()) for m, f in out.items()}


def test_while_a_new_charts_widget_opens_the_views_redraw_a_few_per_frame(module, library, fed):
    # 3 views, 40 ms per draw (over the 30 ms frame budget). The window's first plots come one per frame; redraws
    # all in one frame -- except after the kernel announced a new chart's widget (bk-opening through the bus) and
    # until that widget's initialize: anywidget gives its module import 2 s, and it must not wait behind one frame
    # of every chart's redraw.
    chart, sent = fed
    r = run_view(module, chart, sent, library=library, views=3, drawMs=40, openingBefore=1, initializedBefore=2)
    assert frames_per_message(r["draws"]) == {0: [1, 1, 1], 1: [1, 1, 1], 2: [3]}
    assert [m["seq"] for m in r["sent"] if m["type"] == "bk-ack" and m["key"] == "K"] == [1, 2, 3]
