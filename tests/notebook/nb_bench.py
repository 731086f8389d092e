"""A generated notebook for the browser benchmark: 20 charts x 500 bars and a button that redraws them all."""

from __future__ import annotations

import nbformat

SETUP = '''
import ipywidgets as W
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from breakout_kit.client.iblib import Event
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

feeds = [Feed(f"SYM{{k:02d}}") for k in range({charts})]
# A fixed width so the 4-column grid fits the viewport for both renderers (all 20 charts on screen while timed).
charts = [Chart(f, window=500, throttle=3600, height=180, width=300, compact=True, show_volume=False)
          for f in feeds]
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
'''

SHOW = '''
W.VBox([W.HBox([button, stamp]), W.GridBox([c.widget for c in charts], layout=W.Layout(
    grid_template_columns="repeat(4, 304px)", grid_gap="2px"))], _dom_classes=["bk-grid"])
'''

# Per-update Python cost (one bar + one flush, with the front end connected) after 1 k and after 50 k bars seen.
PROBE = '''
import statistics
from IPython.display import display

probe_feed = Feed("PROBE")
probe = Chart(probe_feed, window=500, throttle=3600, height=220)
display(probe.widget)

def update_cost(start, n=40):
    costs = []
    for i in range(start, start + n):
        t = time.perf_counter()
        probe_feed.bar_event.emit(probe_feed, bar(i, 50), (60.0, 50.0))
        probe.flush()
        costs.append(time.perf_counter() - t)
    return statistics.median(costs)

for i in range(960):
    probe_feed.bar_event.emit(probe_feed, bar(i, 50), (60.0, 50.0))
at_1k = update_cost(960)
for i in range(1000, 49_960):
    probe_feed.bar_event.emit(probe_feed, bar(i, 50), (60.0, 50.0))
at_50k = update_cost(49_960)
print(f"PROBE bars_seen={probe.bars_received} update_1k_ms={at_1k * 1e3:.3f} update_50k_ms={at_50k * 1e3:.3f}")
'''


def bench_notebook(renderer: str, charts: int = 20) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP.format(renderer=renderer, charts=charts).strip()),
                nbformat.v4.new_code_cell(SHOW.strip()),
                nbformat.v4.new_code_cell(PROBE.strip())]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb
