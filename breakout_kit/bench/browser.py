"""Browser figures (``breakout-kit bench --browser``): one 20-chart notebook in JupyterLab, driven in chromium.

The driver is ``bench/lab.py`` (shared with the browser tests). What is measured happens in the page, not in
Python. The notebook (``live_notebook``) connects to the embedded gateway at 60x, starts 20 watchers with a
500-bar backfill and shows them in a ``Dashboard`` (Plotly ``LiveChart`` or canvas tiles, 500 bars each). The
kernel logs when each bar reached the views (``time.time()``); the page logs every chart's draws and samples which
bar each chart shows (``Date.now()``, the same clock). From one run:

* lag: every 100 ms per chart, the age of the oldest bar the kernel had and the chart did not show; p90 over the
  live phase;
* first chart: Run All (menu) -> the first chart with bars on screen, seen by the driver; in the details
  ``first_chart_in_page_s`` is the same in the page's clock (the click's mouse-up -> the frame after the first draw
  with bars, without the driver's round trips) and ``timeline_s`` the steps on the way (kernel and page marks);
* redraw: all 20 charts get a new bar in the same burst (the gateway sends every subscription's bar at the same
  5-second boundary); per bar, from the kernel's first arrival to the last of the 20 charts painted with it; median;
* kernel CPU per bar per chart: thread CPU time spent in the chart code (bar in, updates out, acknowledgements in),
  per bar per chart, over the live phase.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from breakout_kit.bench import lab
from breakout_kit.bench.cpu import Measurement

SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "AMD", "INTC", "NFLX", "CSCO", "PEP", "ADBE",
           "AVGO", "QCOM", "JPM", "BAC", "WFC", "GS", "V")


def skip_reason() -> str | None:
    """Why the browser figures cannot be measured here (one line), or None."""
    return lab.skip_reason()


# ---- the one 20-chart notebook ------------------------------------------------------------------------------
SETUP = '''
import time
marks = [("kernel:setup-cell", time.time())]  # the kernel's side of the first-chart timeline
import asyncio, json, os, threading
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from breakout_kit import BreakoutRule, Dashboard, Watchlist, connect
from breakout_kit.notebook import batch, canvas, plotly_view
from breakout_kit.notebook.chart import StreamingChart

# Thread CPU time spent in chart code (outermost calls only; acks arrive on a subshell thread).
chart_cpu = [0.0]
_depth = threading.local()
def _timed(f):
    def timed(*args, **kwargs):
        if getattr(_depth, "n", 0):
            return f(*args, **kwargs)
        _depth.n = 1
        t = time.thread_time()
        try:
            return f(*args, **kwargs)
        finally:
            chart_cpu[0] += time.thread_time() - t
            _depth.n = 0
    return timed
for _cls, _names in ((StreamingChart, ("_on_bar", "_on_signal", "_on_state", "_scheduled_flush", "flush", "ack",
                                       "_ack_from_any_thread", "_check", "_hello")),
                     (batch.Batcher, ("send",)), (canvas.CanvasWidget, ("_on_front_end_msg",)),
                     (plotly_view.PlotlyView, ("_on_front_end_msg",)),
                     (plotly_view.PlotlyLibrary, ("_on_front_end_msg",))):
    for _n in _names:
        setattr(_cls, _n, _timed(getattr(_cls, _n)))

def mark(name):
    if all(n != name for n, _ in marks):  # the first time only
        marks.append((name, time.time()))

def _marked(f, before, after):
    def marked(*args, **kwargs):
        mark(before)
        try:
            return f(*args, **kwargs)
        finally:
            mark(after)
    return marked
plotly_view.PlotlyLibrary.__init__ = _marked(plotly_view.PlotlyLibrary.__init__, "kernel:library-new",
                                             "kernel:library-made")
StreamingChart._hello = _marked(StreamingChart._hello, "kernel:first-hello", "kernel:first-hello-answered")
def _delta_marked(f):
    def delta(self):
        content, payload = f(self)
        if content["type"] == "bk-full" and content["n"]:
            mark("kernel:first-window-with-bars")
        return content, payload
    return delta
StreamingChart._delta = _delta_marked(StreamingChart._delta)
def _send_marked(f):
    def send(self):
        bars = any(c["type"] == "bk-full" and c["n"] for _, c, _ in self.pending)
        f(self)
        if bars:
            mark("kernel:first-window-with-bars-sent")
    return send
batch.Batcher.send = _send_marked(batch.Batcher.send)
mark("kernel:imported")

client = await connect(speed={speed}, seed=0, start=datetime(2026, 11, 23, 14, 0, tzinfo=ZoneInfo("America/New_York")))
mark("kernel:connected")
watchlist = Watchlist(client, rule=BreakoutRule(lookback=20), bar_size="1 min", backfill="{backfill}")
arrivals = {{}}  # symbol -> [(bar wall-clock seconds, time.time() when the views got it)]
cpu = []         # [(time.time(), chart CPU seconds so far)]

def on_bar(watcher, bar, channel):
    wall = bar.time.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=timezone.utc).timestamp()
    arrivals.setdefault(watcher.symbol, []).append((wall, time.time()))

watchlist.bar_event += on_bar
live = set()

def on_state(watcher, state):
    if state == "live":
        live.add(watcher.symbol)
        mark("kernel:first-watcher-live")
        if len(live) == len({symbols!r}):
            mark("kernel:all-watchers-live")

watchlist.state_event += on_state
for symbol in {symbols!r}:
    watchlist.start(symbol)
mark("kernel:watchers-started")

def dump():
    cpu.append((time.time(), chart_cpu[0]))
    acks = sum(c.acks for c in dash.charts.values()) if "dash" in globals() else 0
    with open("arrivals.json.tmp", "w") as f:
        json.dump({{"arrivals": arrivals, "cpu": cpu, "acks": acks, "marks": marks}}, f)
    os.replace("arrivals.json.tmp", "arrivals.json")  # whole: the benchmark reads it meanwhile
    asyncio.get_running_loop().call_later(0.5, dump)

dump()
'''

DASH = '''
mark("kernel:dashboard-cell")
t = time.perf_counter()
dash = Dashboard(list(watchlist.watchers.values()), columns=4, window={window}, chart_height=170,
                 renderer={renderer!r}, tz="America/New_York")
mark("kernel:dashboard-made")
print(f"dashboard built in {{time.perf_counter() - t:.2f}} s")

import ipywidgets as W
loop = asyncio.get_running_loop()
cycles = W.Label("0")
cycles.add_class("bk-cycles")

def cycle():
    """Take the first symbol's tile away and add it back, while the others keep running."""
    symbol = next(iter(dash.charts))
    watcher = dash.charts[symbol].watcher
    dash.remove(symbol)
    dash.add(watcher)
    cycles.value = str(int(cycles.value) + 1)

button = W.Button(description="remove + add one chart")
button.add_class("bk-cycle")
button.on_click(lambda _b: loop.call_soon_threadsafe(cycle))  # handlers may run on a subshell thread
'''

SHOW = "W.VBox([W.HBox([button, cycles]), dash])"


def live_notebook(path: Path, renderer: str, *, charts: int = 20, speed: float = 60.0, window: int = 500) -> None:
    """Write the benchmark notebook: ``charts`` watchers at ``speed`` in a Dashboard of ``renderer`` tiles."""
    backfill = f"{int(window * 60 * 1.05)} S"  # a full window of 1-minute bars
    lab.write_notebook(path, [SETUP.format(speed=speed, symbols=list(SYMBOLS[:charts]), backfill=backfill),
                              DASH.format(renderer=renderer, window=window), SHOW])


# Every 100 ms, every chart's newest shown bar (wall-clock seconds): [Date.now(), symbol, shown].
SAMPLER_JS = """() => {
  window.__bkSamples = [];
  setInterval(() => {
    const now = Date.now();
    document.querySelectorAll('.bk-canvas').forEach(box => {
      const title = box.querySelector('.bk-title');
      if (box.dataset.last && title) __bkSamples.push([now, title.firstChild.textContent, +box.dataset.last]);
    });
    document.querySelectorAll('.bk-plotly').forEach(gd => {
      if (gd.dataset.last) __bkSamples.push([now, gd.dataset.symbol, +gd.dataset.last]);
    });
  }, 100);
}"""

CHARTS_WITH_BARS_JS = """(n) => Array.from(document.querySelectorAll('.bk-canvas, .bk-plotly'))
  .filter(e => +e.dataset.bars > 0).length >= n"""

# The page's pointer-ups (epoch ms): the last one before the charts is the click on "Run All Cells" (Lumino's menus
# act on pointer events and cancel the mouse events that would follow).
CLICKS_JS = """() => { window.__bkPointerUps = [];
  document.addEventListener('pointerup', () => window.__bkPointerUps.push(Date.now()), true); }"""

# Our marks on the page's performance timeline (static/*.js): [name, epoch ms].
MARKS_JS = """() => performance.getEntriesByType('mark').filter(m => m.name.startsWith('bk:'))
  .map(m => [m.name, performance.timeOrigin + m.startTime])"""

DRAWS_JS = "() => [...(globalThis.__bkCanvasDraws || []), ...(globalThis.__bkPlotlyDraws || [])]"


def lag_of(samples: list, arrivals: dict[str, list], since_ms: float) -> list[float]:
    """Lag of every sample taken after ``since_ms``: now - arrival of the oldest bar newer than the one shown."""
    lags = []
    for now_ms, symbol, shown in samples:
        if now_ms < since_ms:
            continue
        now = now_ms / 1000.0
        waiting = [t for wall, t in arrivals.get(symbol, ()) if wall > shown + 1e-6 and t <= now]
        lags.append(now - min(waiting) if waiting else 0.0)
    return lags


def redraws_of(draws: list[dict], arrivals: dict[str, list], since_ms: float, charts: int) -> list[float]:
    """Per bar time that reached every chart in the live phase: first kernel arrival -> the last chart painted
    with it (ms)."""
    first_arrival: dict[float, float] = {}
    for bars in arrivals.values():
        for wall, t in bars:
            if t * 1000 >= since_ms:
                first_arrival[wall] = min(first_arrival.get(wall, float("inf")), t * 1000)
    out = []
    for wall, arrived in sorted(first_arrival.items()):
        painted: dict[str, float] = {}
        for d in draws:
            if d.get("last") is not None and d["last"] >= wall - 1e-6 and d["at"] >= arrived:
                painted[d["symbol"]] = min(painted.get(d["symbol"], float("inf")), d["at"])
        if len(painted) >= charts:
            out.append(max(painted.values()) - arrived)
    return out


def timeline_of(clicked_ms: float, marks: list) -> dict[str, float]:
    """Marks (name, epoch ms) from the kernel and the page as seconds after the Run All click, in time order."""
    known = [(name, at) for name, at in marks if at is not None]
    return {name: round((at - clicked_ms) / 1000, 3) for name, at in sorted(known, key=lambda m: m[1])}


def _quantiles(values: list[float]) -> list[float]:
    return statistics.quantiles(values, n=100) if len(values) > 1 else [values[0]] * 99


def live(renderer: str = "canvas", *, charts: int = 20, speed: float = 60.0, seconds: float = 30.0,
         window: int = 500, cycles: int = 0, screenshot: Path | None = None) -> dict:
    """Run the notebook in chromium; returns lag percentiles, first-chart time, redraw times, kernel CPU per bar
    per chart, console errors and counts. ``cycles``: meanwhile remove one chart and add it back that many times
    (what a Stop/Start does in a panel)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bk-browser-") as tmp:
        root = Path(tmp)
        live_notebook(root / "live.ipynb", renderer, charts=charts, speed=speed, window=window)
        with lab.jupyter_lab(root) as (base, token), sync_playwright() as p:
            browser = lab.launch(p)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                errors = lab.console_errors(page)
                lab.open_notebook(page, base, token, "live.ipynb")
                page.evaluate(SAMPLER_JS)
                page.evaluate(CLICKS_JS)
                started = time.monotonic()
                clicked_ms = page.evaluate("Date.now()")
                lab.run_all(page)
                run_all_ms = page.evaluate("() => window.__bkPointerUps.at(-1) ?? null")  # the click on "Run All Cells"
                lab.wait_or_explain(page, CHARTS_WITH_BARS_JS, 1)
                first_chart_s = time.monotonic() - started
                first_chart_ms = page.evaluate("Date.now()")
                lab.wait_or_explain(page, CHARTS_WITH_BARS_JS, charts)
                all_charts_s = time.monotonic() - started
                first_draw_ms = page.evaluate("() => Math.min(...(globalThis.__bkPlotlyDraws || [])"
                                              ".concat(globalThis.__bkCanvasDraws || []).map(d => d.at))")
                first_bars_ms = page.evaluate("() => Math.min(...(globalThis.__bkPlotlyDraws || [])"
                                              ".concat(globalThis.__bkCanvasDraws || []).filter(d => d.n > 0)"
                                              ".map(d => d.at).concat([Infinity]))")
                first_bars_ms = first_bars_ms if first_bars_ms not in (None, float("inf")) else None
                library = page.evaluate("() => globalThis.__bkPlotlyLoad || null")
                page_marks = page.evaluate(MARKS_JS)
                page.locator(".bk-cycle").scroll_into_view_if_needed()
                # The backfills replay as fast as they load: measure the live phase only.
                page.wait_for_timeout(3000)
                since_ms = page.evaluate("Date.now()")
                for k in range(cycles):
                    page.wait_for_timeout(seconds * 1000 / (cycles + 1))
                    page.click(".bk-cycle")
                    page.wait_for_function("(n) => +document.querySelector('.bk-cycles').innerText >= n", arg=k + 1)
                page.wait_for_timeout(seconds * 1000 / (cycles + 1))
                until_ms = page.evaluate("Date.now()")
                samples = page.evaluate("window.__bkSamples")
                draws = page.evaluate(DRAWS_JS)
                widths = page.evaluate("() => Array.from(document.querySelectorAll('.bk-canvas, .bk-plotly'))"
                                       ".map(e => e.getBoundingClientRect().width)")
                if screenshot is not None:
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshot), full_page=False)
                page.wait_for_timeout(600)  # the kernel's next dump covers the whole live phase
                log = json.loads((root / "arrivals.json").read_text())
            finally:
                browser.close()
    arrivals = log["arrivals"]
    timeline = timeline_of(clicked_ms, [*page_marks, *[(n, t * 1000) for n, t in log.get("marks", ())],
                                        ("page:run-all-pointerup", run_all_ms), ("page:first-candles-painted", first_bars_ms),
                                        ("page:first-candles-seen", first_chart_ms)])
    lags = sorted(lag_of(samples, arrivals, since_ms))
    if not lags:
        raise RuntimeError("no lag samples: the charts showed no bars")
    q = _quantiles(lags)
    live_bars = sum(1 for bars in arrivals.values() for _, t in bars if since_ms <= t * 1000 <= until_ms)
    cpu = [(t, c) for t, c in log["cpu"] if since_ms <= t * 1000 <= until_ms]
    cpu_per_bar_us = (cpu[-1][1] - cpu[0][1]) / live_bars * 1e6 if len(cpu) > 1 and live_bars else float("nan")
    redraws = redraws_of(draws, arrivals, since_ms, charts)
    by_bar: dict[float, list[float]] = {}
    for bars in arrivals.values():
        for wall, t in bars:
            if t * 1000 >= since_ms:
                by_bar.setdefault(wall, []).append(t)
    spreads = [(max(ts) - min(ts)) * 1000 for ts in by_bar.values() if len(ts) >= charts]
    draw_ms = [d["ms"] for d in draws if d["at"] >= since_ms]
    return {"p50_s": q[49], "p90_s": q[89], "p99_s": q[98], "max_s": lags[-1], "samples": len(lags),
            "first_chart_s": first_chart_s, "all_charts_s": all_charts_s, "console_errors": errors,
            "first_draw_after_click_s": (first_draw_ms - clicked_ms) / 1000,
            "first_chart_in_page_s": (first_bars_ms - run_all_ms) / 1000 if first_bars_ms and run_all_ms else None,
            "plotly_js_asked_after_click_s": (library["asked"] - clicked_ms) / 1000 if library else None,
            "plotly_js_load_s": (library["loaded"] - library["asked"]) / 1000 if library else None,
            "timeline_s": timeline, "live_bars": live_bars, "kernel_cpu_per_bar_us": cpu_per_bar_us, "acks": log["acks"],
            "redraw_median_ms": statistics.median(redraws) if redraws else float("nan"),
            "redraws_ms": [round(r) for r in redraws],
            "kernel_arrival_spread_ms": statistics.median(spreads) if spreads else float("nan"),
            "draw_ms_p50": statistics.median(draw_ms) if draw_ms else float("nan"), "min_chart_width_px": min(widths, default=0.0),
            "charts": charts, "speed": speed, "seconds": seconds, "window": window, "renderer": renderer}


PLOTLY_WINDOW = 300  # bars per Plotly tile: 20 x 500 candles take the page ~1.5 s per round at 60x (see docs)


# ---- probes for bench/main.py --------------------------------------------------------------------------------
def _details(r: dict) -> dict:
    details = {k: v for k, v in r.items() if k != "console_errors"}
    details["console_errors"] = len(r["console_errors"])
    details["console_error_texts"] = r["console_errors"][:5]
    return details


def live_canvas(quick: bool) -> dict[str, Measurement]:
    """20 watchers at 60x in a canvas Dashboard: lag p90, Run All -> first chart, 20-chart redraw."""
    r = live("canvas", seconds=15 if quick else 40)
    d = _details(r)
    return {"browser_lag_p90_s": Measurement(r["p90_s"], ours=r["p90_s"], unit="s", details=d),
            "first_chart_canvas_s": Measurement(r["first_chart_s"], ours=r["first_chart_s"], unit="s", details=d),
            "browser_redraw_20_charts_ms": Measurement(r["redraw_median_ms"], ours=r["redraw_median_ms"], unit="ms",
                                                       details=d)}


def live_plotly(quick: bool) -> dict[str, Measurement]:
    """The same with Plotly LiveCharts (300-bar tiles, as measured in issue 26): lag p90, first chart, kernel CPU
    per bar per chart."""
    r = live("plotly", seconds=15 if quick else 40, window=PLOTLY_WINDOW)
    d = _details(r)
    return {"plotly_20_lag_p90_s": Measurement(r["p90_s"], ours=r["p90_s"], unit="s", details=d),
            "plotly_first_chart_s": Measurement(r["first_chart_s"], ours=r["first_chart_s"], unit="s", details=d),
            "kernel_cpu_per_bar_us": Measurement(r["kernel_cpu_per_bar_us"], ours=r["kernel_cpu_per_bar_us"],
                                                 unit="µs", details=d)}
