"""The widgets behind LiveChart: our own front end for Plotly (static/livechart.js), fed by deltas.

``PlotlyView`` is one chart (an anywidget; its data travels in custom messages, see the protocol at the top of
``static/livechart.js``). ``plotly_library()`` is one widget per kernel that carries plotly.js to the page once
(``static/plotly-loader.js``): plotly's own FigureWidget ships its 5 MB bundle with every figure, which made 20
charts take minutes to appear. What it carries is plotly.js's 1.3 MB finance bundle (vendored), and it starts when
the charts are imported in a kernel (``chart.py``), so the page has plotly ready before the first chart.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import anywidget
import traitlets

from breakout_kit.notebook.batch import Batcher

_STATIC = resources.files("breakout_kit.notebook").joinpath("static")


def _static(name: str) -> str:
    return _STATIC.joinpath(name).read_text(encoding="utf-8")


# plotly.js's "finance" partial bundle (static/VENDORED.md): candlestick, scatter and bar, all a LiveChart draws, in
# a quarter of the full bundle's size; the page evaluates it in a third of the time (0.3-0.5 s vs 1.4-1.8 s at load 7).
PARTIAL_BUNDLE = "plotly-finance.min.js"


def _plotly_js() -> bytes:
    """plotly.js for the page: the vendored partial bundle, or the full one of the plotly package without it."""
    partial = _STATIC.joinpath(PARTIAL_BUNDLE)
    if partial.is_file():
        return partial.read_bytes()
    return _full_plotly_js()


def _full_plotly_js() -> bytes:
    """plotly.js as shipped with the plotly package (found without importing it: importing costs time)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("LiveChart needs the plotly package (pip install plotly)")
    return (Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js").read_bytes()


class PlotlyLibrary(anywidget.AnyWidget):
    """plotly.js for the page, sent once per kernel, and the bus of every PlotlyView: the updates of all charts
    made in one loop turn travel as one message through it, their acknowledgements come back through it."""

    _esm = _static("plotly-page.js") + "\n" + _static("plotly-loader.js")
    _source = traitlets.Bytes(b"").tag(sync=True)  # a binary buffer on the wire, not a 5 MB JSON string
    key = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(key=uuid.uuid4().hex, **kwargs)
        self.messages_sent = 0
        self.on_msg(self._on_front_end_msg)

    def announce(self, key: str) -> None:
        """Tell the page that the chart ``key``'s widget opens next (``bk-opening``): until it is ready, the charts
        in the page draw a few per frame, so the new widget's module import is not stuck behind one long frame
        (anywidget gives it 2 s; see ``opening()`` in ``static/plotly-page.js``)."""
        self.send({"type": "bk-opening", "key": key})

    def _on_front_end_msg(self, _widget, content, _buffers) -> None:
        # May run on a kernel subshell thread: the callbacks only hand over to the kernel's loop.
        if isinstance(content, dict) and content.get("type") == "bk-ack":
            for key, seq in content.get("acks", ()):
                view = _VIEWS.get(key)
                if view is not None and view.on_ack is not None and isinstance(seq, int):
                    view.on_ack(seq)


_LIBRARY: list[PlotlyLibrary] = []


def plotly_library() -> PlotlyLibrary:
    """The kernel's one PlotlyLibrary widget (created on first use)."""
    if not _LIBRARY or _LIBRARY[0].comm is None:
        _LIBRARY[:] = [PlotlyLibrary(_source=_plotly_js())]
    return _LIBRARY[0]


def preload() -> None:
    """Start sending plotly.js to the page now, before the first chart needs it (does nothing without plotly.js:
    the first LiveChart then says what is missing)."""
    try:
        plotly_library()
    except ImportError:
        pass


class PlotlyView(anywidget.AnyWidget):
    """One live Plotly chart in the page. ``spec`` is the empty figure (data + layout); rows and markers arrive in
    ``bk-full`` / ``bk-delta`` messages; the views answer ``bk-hello`` (send the window) and ``bk-ack`` (drawn)."""

    _esm = "\n".join(_static(name) for name in ("plotly-page.js", "deltas.js", "livechart.js"))
    key = traitlets.Unicode("").tag(sync=True)  # names this chart in the bus's batch and ack messages
    library_key = traitlets.Unicode("").tag(sync=True)
    spec = traitlets.Dict().tag(sync=True)
    window = traitlets.Int(500).tag(sync=True)
    symbol = traitlets.Unicode("").tag(sync=True)
    breaks = traitlets.Bool(True).tag(sync=True)  # cut nights and weekends out of the time axis

    def __init__(self, **kwargs):
        key, library = uuid.uuid4().hex, plotly_library()
        library.announce(key)  # before this widget's comm opens: the page then makes room for its start
        super().__init__(key=key, library_key=library.key, **kwargs)
        self.on_hello: Callable[[], None] | None = None
        self.on_ack: Callable[[int], None] | None = None
        self.messages_sent = 0
        _VIEWS[self.key] = self
        self.on_msg(self._on_front_end_msg)

    def queue(self, content: dict, payload: bytes) -> None:
        """Queue one update (``static/deltas.js``) for the next batch message through the library's bus."""
        _batcher.add(self, content, payload)

    def _on_front_end_msg(self, _widget, content, _buffers) -> None:
        # May run on a kernel subshell thread: the callback only hands over to the kernel's loop.
        if isinstance(content, dict) and content.get("type") == "bk-hello" and self.on_hello is not None:
            self.on_hello()

    def close(self) -> None:
        _VIEWS.pop(self.key, None)
        _batcher.drop(self)
        self.on_ack = self.on_hello = None
        super().close()


_VIEWS: weakref.WeakValueDictionary[str, PlotlyView] = weakref.WeakValueDictionary()  # routes acks
_batcher = Batcher(lambda _pending: plotly_library())
