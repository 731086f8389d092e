"""CanvasChart: the same live chart as LiveChart, drawn by a small canvas library instead of Plotly.

For dashboards with many charts. Plotly needs ~0.75 s to redraw 20 charts x 500 bars in a browser; the vendored
lightweight-charts (TradingView, Apache-2.0, ``static/``) draws on a canvas and is several times faster. The widget is
an anywidget (``static/canvaschart.js``); each flush sends only what changed (``static/deltas.js``) as one binary
buffer, and the updates of all charts in one loop turn share one comm message.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from importlib import resources

import anywidget
import traitlets

from breakout_kit.notebook.batch import Batcher
from breakout_kit.notebook.chart import StreamingChart


def _esm() -> str:
    static = resources.files("breakout_kit.notebook").joinpath("static")
    lib = static.joinpath("lightweight-charts.standalone.production.js")
    # The standalone build is a classic script that sets window.LightweightCharts; it runs fine inside the module.
    return "\n".join([lib.read_text(encoding="utf-8"), static.joinpath("deltas.js").read_text(encoding="utf-8"),
                      static.joinpath("canvaschart.js").read_text(encoding="utf-8")])


_batcher = Batcher(lambda pending: pending[0][0])  # any canvas widget carries the batch
_by_key: weakref.WeakValueDictionary[str, CanvasWidget] = weakref.WeakValueDictionary()  # routes acks


class CanvasWidget(anywidget.AnyWidget):
    """The front-end half of CanvasChart: a lightweight-charts canvas.

    The data travels in batch messages (the updates of ``static/deltas.js``, one message for every chart updated in
    the same loop turn), not in synced traits.
    """

    _esm = _esm()
    key = traitlets.Unicode("").tag(sync=True)  # identifies this chart's data in batch messages
    title = traitlets.Unicode("").tag(sync=True)
    height = traitlets.Int(300).tag(sync=True)
    width = traitlets.Int(0).tag(sync=True)  # 0: fill the container
    show_volume = traitlets.Bool(True).tag(sync=True)
    follow = traitlets.Bool(True).tag(sync=True)
    attribution = traitlets.Bool(True).tag(sync=True)  # the library's logo; a Dashboard shows it once instead

    def __init__(self, **kwargs):
        super().__init__(key=uuid.uuid4().hex, **kwargs)
        self.messages_sent = 0
        self.on_ack: Callable[[int], None] | None = None
        self.on_hello: Callable[[], None] | None = None
        _by_key[self.key] = self
        self.on_msg(self._on_front_end_msg)

    def queue(self, content: dict, payload: bytes) -> None:
        """Queue one update for the next batch message."""
        _batcher.add(self, content, payload)

    def _on_front_end_msg(self, _widget, content, _buffers) -> None:
        # May run on a kernel subshell thread: only hand over (the callbacks go through call_soon_threadsafe).
        if not isinstance(content, dict):
            return
        if content.get("type") == "bk-hello":
            for key in content.get("keys") or [self.key]:  # a view without data, or updates that did not fit
                widget = _by_key.get(key)
                if widget is not None and widget.on_hello is not None:
                    widget.on_hello()
        elif content.get("type") == "bk-ack":
            for key, seq in content.get("acks", ()):
                widget = _by_key.get(key)
                if widget is not None and widget.on_ack is not None and isinstance(seq, int):
                    widget.on_ack(seq)

    def close(self) -> None:
        _by_key.pop(self.key, None)
        _batcher.drop(self)
        self.on_ack = self.on_hello = None
        super().close()


class CanvasChart(StreamingChart):
    """Drop-in alternative to LiveChart drawn with lightweight-charts on a canvas (much faster for many charts).

    Same constructor, ``flush()``, ``close()``, ``n_bars``, ``n_markers`` and ``widget`` as LiveChart; it sends the
    same updates (only what changed, as binary columns).
    """

    def _build(self, title: str, height: int, show_volume: bool, compact: bool) -> None:
        self.canvas = CanvasWidget(title=title, height=height, width=self.width or 0, show_volume=show_volume)
        self.canvas.on_ack = self._ack_from_any_thread
        self.canvas.on_hello = self._hello_from_any_thread

    def _close_widget(self) -> None:
        self.canvas.close()

    @property
    def widget(self):
        """The ipywidget to place in a layout."""
        return self.canvas

    def _repr_mimebundle_(self, **kwargs):
        return self.canvas._repr_mimebundle_(**kwargs)

    def _send(self) -> int | None:
        content, payload = self._delta()
        self.canvas.queue(content, payload)
        return content["seq"]
