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
from breakout_kit.notebook.plotly_view import PlotlyView

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@pytest.fixture
def module(tmp_path) -> Path:
    """The view's module exactly as the page gets it (deltas.js + livechart.js), as a file node can import."""
    path = tmp_path / "livechart.mjs"
    path.write_text(PlotlyView._esm)
    return path


def run_view(module: Path, chart: LiveChart, messages: list, *, broken: bool = False) -> dict:
    payload = {"spec": chart.spec, "window": chart.window, "broken": broken,
               "messages": [[m, base64.b64encode(b).decode()] for m, b in messages]}
    out = subprocess.run(["node", str(HERE / "livechart_harness.mjs"), module.as_uri()], input=json.dumps(payload),
                         capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def captured(chart: LiveChart) -> list:
    sent = []
    chart.view.queue = lambda content, payload: sent.append((content, bytes(payload)))
    return sent


def feed_and_flush(w, chart):
    for i in range(5):
        w.feed(make_bar(i))
    chart.flush()
    w.feed(make_bar(5), None, FakeSignal(make_bar(5).time, "up", 100.4, 100.5))
    chart.flush()
    b = make_bar(5)
    w.feed(type(b)(b.time, b.open, b.high, b.low, b.close + 2, b.volume))  # the last bar revised
    chart.flush()


def test_view_asks_for_the_window_applies_deltas_and_acknowledges_each_draw(monkeypatch, module):
    ViewReplica.record(monkeypatch)
    w = FakeWatcher()
    chart = LiveChart(w, window=100, throttle=0)
    sent = captured(chart)
    feed_and_flush(w, chart)
    r = run_view(module, chart, sent)
    assert r["helloFirst"]  # a new view asks for the window
    assert [m["seq"] for m in r["sent"] if m["type"] == "bk-ack"] == [1, 2, 3]  # one ack per drawn update
    last = r["draws"][-1]
    assert (last["n"], last["up"]) == (6, 1)
    assert last["close"] == pytest.approx(make_bar(5).close + 2) and last["last"] == make_bar(5).time.timestamp() * 1e3
    assert r["breaks"] == [{"bounds": [240e3, 86400e3]}]  # a night cut out: from one spacing after the close
    assert r["stale"] is False  # a delta on top of nothing does not apply (the view asks again)
    chart.close()


def test_a_view_that_cannot_draw_does_not_acknowledge(monkeypatch, module):
    ViewReplica.record(monkeypatch)
    w = FakeWatcher()
    chart = LiveChart(w, window=100, throttle=0)
    sent = captured(chart)
    feed_and_flush(w, chart)
    r = run_view(module, chart, sent, broken=True)
    assert [m for m in r["sent"] if m["type"] == "bk-ack"] == []
    chart.close()


def test_a_delta_out_of_order_makes_the_view_ask_for_the_window(monkeypatch, module):
    ViewReplica.record(monkeypatch)
    w = FakeWatcher()
    chart = LiveChart(w, window=100, throttle=0)
    sent = captured(chart)
    feed_and_flush(w, chart)
    r = run_view(module, chart, [sent[0], sent[2]])  # the update in between is lost
    assert [m["type"] for m in r["sent"]] == ["bk-hello", "bk-ack", "bk-hello"]
    chart.close()
