"""The widgets behind LiveChart: our own front end for Plotly (static/livechart.js), fed by deltas.

``PlotlyView`` is one chart (an anywidget; its data travels in custom messages, see the protocol at the top of
``static/livechart.js``). ``plotly_library()`` is one widget per kernel that carries plotly.js to the page once
(``static/plotly-loader.js``): plotly's own FigureWidget ships its 5 MB bundle with every figure, which made 20
charts take minutes to appear.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import anywidget
import traitlets
from ipywidgets import widget_serialization

_STATIC = resources.files("breakout_kit.notebook").joinpath("static")


def _static(name: str) -> str:
    return _STATIC.joinpath(name).read_text(encoding="utf-8")


def _plotly_js() -> bytes:
    """plotly.js as shipped with the plotly package (found without importing it: importing costs time)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("LiveChart needs the plotly package (pip install plotly)")
    return (Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js").read_bytes()


class PlotlyLibrary(anywidget.AnyWidget):
    """plotly.js for the page, sent once per kernel; every PlotlyView refers to it."""

    _esm = _static("plotly-loader.js")
    _source = traitlets.Bytes(b"").tag(sync=True)  # a binary buffer on the wire, not a 5 MB JSON string


_LIBRARY: list[PlotlyLibrary] = []


def plotly_library() -> PlotlyLibrary:
    """The kernel's one PlotlyLibrary widget (created on first use)."""
    if not _LIBRARY or _LIBRARY[0].comm is None:
        _LIBRARY[:] = [PlotlyLibrary(_source=_plotly_js())]
    return _LIBRARY[0]


class PlotlyView(anywidget.AnyWidget):
    """One live Plotly chart in the page. ``spec`` is the empty figure (data + layout); rows and markers arrive in
    ``bk-full`` / ``bk-delta`` messages; the views answer ``bk-hello`` (send the window) and ``bk-ack`` (drawn)."""

    _esm = _static("deltas.js") + "\n" + _static("livechart.js")
    spec = traitlets.Dict().tag(sync=True)
    window = traitlets.Int(500).tag(sync=True)
    symbol = traitlets.Unicode("").tag(sync=True)
    breaks = traitlets.Bool(True).tag(sync=True)  # cut nights and weekends out of the time axis
    library = traitlets.Instance(PlotlyLibrary, allow_none=True).tag(sync=True, **widget_serialization)

    def __init__(self, **kwargs):
        super().__init__(library=plotly_library(), **kwargs)
        self.on_hello: Callable[[], None] | None = None
        self.on_ack: Callable[[int], None] | None = None
        self.on_msg(self._on_front_end_msg)

    def _on_front_end_msg(self, _widget, content, _buffers) -> None:
        # May run on a kernel subshell thread: the callbacks only hand over to the kernel's loop.
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "bk-ack" and isinstance(content.get("seq"), int) and self.on_ack is not None:
            self.on_ack(content["seq"])
        elif kind == "bk-hello" and self.on_hello is not None:
            self.on_hello()

    def close(self) -> None:
        self.on_ack = self.on_hello = None
        super().close()
