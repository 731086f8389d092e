"""The plotly.js a LiveChart page gets: the vendored partial bundle (it must draw every trace a live chart has), the
full bundle of the plotly package without it, and its early start in a kernel (when the charts are imported)."""

from __future__ import annotations

import re
import sys
import types

import pytest

from breakout_kit.notebook import chart, plotly_view, plots


def bundle_trace_types(source: bytes) -> set[str]:
    """The trace modules a plotly.js bundle registers."""
    return set(re.findall(rb'moduleType:"trace",name:"(\w+)"', source))


def test_the_page_gets_the_partial_bundle_and_it_draws_every_live_trace():
    source = plotly_view._plotly_js()
    assert b"plotly.js (finance - minified)" in source[:200]
    assert len(source) < len(plotly_view._full_plotly_js()) / 3
    drawn = bundle_trace_types(source)
    for show_volume in (False, True):
        spec = plots.live_spec(title="X", height=300, compact=True, width=None, show_volume=show_volume)
        assert {t["type"].encode() for t in spec["data"]} <= drawn


def test_without_the_partial_bundle_the_page_gets_plotlys_full_one(monkeypatch):
    monkeypatch.setattr(plotly_view, "PARTIAL_BUNDLE", "no-such-bundle.js")
    source = plotly_view._plotly_js()
    assert re.match(rb"/\*\*\s*\* plotly\.js v\d", source)
    assert {b"candlestick", b"scatter", b"bar", b"scatter3d"} <= bundle_trace_types(source)


@pytest.fixture
def library_calls(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(plotly_view, "plotly_library", lambda: calls.append(1))
    return calls


def test_in_a_kernel_importing_the_charts_starts_plotly_on_its_way(monkeypatch, library_calls):
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert chart._preload_plotly_in_kernel() and library_calls == [1]


@pytest.mark.parametrize("shell", [None, types.SimpleNamespace()], ids=["plain python", "terminal IPython"])
def test_outside_a_kernel_importing_the_charts_makes_no_widget(monkeypatch, library_calls, shell):
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert not chart._preload_plotly_in_kernel() and library_calls == []


def test_preload_leaves_a_missing_plotly_to_the_first_chart(monkeypatch):
    def missing():
        raise ImportError("LiveChart needs the plotly package (pip install plotly)")

    monkeypatch.setattr(plotly_view, "plotly_library", missing)
    plotly_view.preload()  # no error at import time; LiveChart() raises it


def test_a_chart_is_announced_to_the_page_through_the_bus_before_its_widget_opens(monkeypatch):
    # The page then keeps its frames short until the new widget is ready (static/livechart.js, opening()).
    events = []
    monkeypatch.setattr(plotly_view.PlotlyLibrary, "send",
                        lambda self, content, buffers=None: events.append(("bus", content)))
    real_open = plotly_view.PlotlyView.open

    def open_(self):
        events.append(("open", self.key))
        real_open(self)

    monkeypatch.setattr(plotly_view.PlotlyView, "open", open_)
    view = plotly_view.PlotlyView()
    assert events == [("bus", {"type": "bk-opening", "key": view.key}), ("open", view.key)]
    view.close()
