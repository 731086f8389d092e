"""A generated notebook for the browser benchmark: 20 charts x 500 bars and a button that redraws them all."""

from __future__ import annotations

import nbformat

SETUP = '''
import ipywidgets as W
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from eventkit import Event
from breakout_kit.notebook import CanvasChart, LiveChart

RENDERER = {renderer!r}
Chart = LiveChart if RENDERER == "plotly" else CanvasChart
T0 = datetime(2026, 11, 23, 14, 30, tzinfo=timezone.utc)

def bar(i, base):
    c = base + ((i * 7919) % 101) * 0.05
    return SimpleNamespace(time=T0 + timedelta(minutes=i), open=c - 0.1, high=c + 0.3, low=c - 0.3, close=c,
                           volume=1000 + i % 13)

class Feed:
    def __init__(self, symbol):
        self.symbol, self.bar_event, self.signal_event = symbol, Event(), Event()

feeds = [Feed(f"SYM{{k:02d}}") for k in range(20)]
charts = [Chart(f, window=500, throttle=3600, height=180, compact=True, show_volume=False) for f in feeds]
for k, f in enumerate(feeds):
    for i in range(500):
        f.bar_event.emit(f, bar(i, 50 + k), (60.0 + k, 50.0 + k) if i >= 20 else None)
for c in charts:
    c.flush()
next_bar = [500]

import time
stamp = W.Label("0")
stamp.add_class("bk-stamp")
def redraw(_button=None):
    """One new bar per chart, then every chart sends its whole 500-bar window again."""
    started = time.time()  # same clock as the browser's Date.now(): the test times the redraw from here
    i = next_bar[0]
    next_bar[0] += 1
    for k, f in enumerate(feeds):
        f.bar_event.emit(f, bar(i, 50 + k), (60.0 + k, 50.0 + k))
    for c in charts:
        c.flush()
    stamp.value = f"{{started:.4f}}"

button = W.Button(description="redraw all")
button.add_class("bk-redraw")
button.on_click(redraw)
W.VBox([W.HBox([button, stamp]), W.GridBox([c.widget for c in charts],
                          layout=W.Layout(grid_template_columns="repeat(4, 1fr)", grid_gap="2px"))])
'''


def bench_notebook(renderer: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP.format(renderer=renderer).strip())]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb
