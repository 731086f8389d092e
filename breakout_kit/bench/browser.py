"""Browser figures (``breakout-kit bench --browser``): JupyterLab on loopback, Debian chromium driven by Playwright.

These need ``chromium`` on PATH (``apt-get install -y chromium``; Playwright cannot download browsers here) and the
``playwright`` Python package (``pip install -e '.[dev]'``). What they measure happens in the page, not in Python:

* live lag: a generated notebook connects to the embedded gateway at 60x, starts 20 watchers and shows them in a
  Dashboard. The kernel records when each bar arrived (``time.time()``); the page samples which bar every chart shows
  (``Date.now()``, same clock). A sample's lag is the age of the oldest bar the kernel had and the chart did not show.
* first chart: Run All -> the first chart with candles on screen.
* redraw: 20 canvas charts x 500 bars; a button adds one bar to each and flushes them all; timed from the kernel
  handler's start to the last chart's painted frame.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from breakout_kit.bench.cpu import Measurement

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "AMD", "INTC", "NFLX", "CSCO", "PEP", "ADBE",
           "AVGO", "QCOM", "JPM", "BAC", "WFC", "GS", "V")


def skip_reason() -> str | None:
    """Why the browser figures cannot be measured here (one line), or None."""
    if shutil.which("chromium") is None:
        return "chromium is not installed (apt-get install -y chromium); the browser figures need it"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    try:
        import jupyterlab  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError:
        return "jupyterlab and nbformat are needed (pip install -e '.[dev]')"
    return None


# ---- JupyterLab + chromium -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _await_serving(proc: subprocess.Popen, log, port: int) -> threading.Thread:
    """Read the server's output until it says it serves ``port`` (or exits); a thread keeps copying it to ``log``
    after that, so its pipe never fills."""
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        if f"127.0.0.1:{port}/" in line:
            break
    else:
        raise RuntimeError(f"jupyter lab exited with {proc.wait()}; see {log.name}")
    log.flush()
    copier = threading.Thread(target=lambda: log.writelines(proc.stdout), daemon=True, name="jupyter-log")
    copier.start()
    return copier


@contextlib.contextmanager
def jupyter_lab(root: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """JupyterLab serving ``root`` on 127.0.0.1 (news and update checks off); yields (base_url, token).

    IB_PORT/IB_HOST/IB_CLIENT_ID are removed from the kernels' environment: notebooks use the embedded gateway.
    """
    token = secrets.token_hex(16)
    port = _free_port()
    settings = root / ".lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    server_env = {k: v for k, v in os.environ.items() if k not in ("IB_PORT", "IB_HOST", "IB_CLIENT_ID")}
    server_env.update(env or {})
    server_env.update(JUPYTERLAB_SETTINGS_DIR=str(root / ".lab-settings"),
                      JUPYTERLAB_WORKSPACES_DIR=str(root / ".lab-workspaces"), JUPYTER_RUNTIME_DIR=str(root / ".rt"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    with open(root / "jupyter.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=server_env,
                                cwd=root)
        copier = None
        try:
            copier = _await_serving(proc, log, port)
            yield base, token
        finally:
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST"), timeout=5):
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=10)
            if copier is not None:
                copier.join(timeout=10)     # the server exited: its output ends
            if proc.stdout is not None:
                proc.stdout.close()


def _launch(p):
    return p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)


def _open(page, base: str, token: str, name: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    dialog = page.locator(".jp-Dialog .jp-mod-accept")  # JupyterLab may ask which kernel: take the default
    with contextlib.suppress(PlaywrightTimeout):
        dialog.wait_for(timeout=8000)
        dialog.click()
    _wait_idle(page)


def _wait_idle(page, timeout_ms: int = 120_000) -> None:
    page.wait_for_function("() => /\\| Idle/.test(document.querySelector('#jp-main-statusbar')?.innerText || '')",
                           timeout=timeout_ms)


def _run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _write_notebook(path: Path, cells: list[str]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.strip()) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _wait_or_explain(page, js: str, arg=None, timeout_ms: int = 300_000) -> None:
    """Wait for ``js`` to be true; on timeout raise with the notebook's error output (and keep a screenshot)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_ms, polling=50)
    except PlaywrightTimeout:
        shot = Path(tempfile.gettempdir()) / "bk-browser-timeout.png"
        with contextlib.suppress(Exception):
            page.locator(".jp-OutputArea").last.scroll_into_view_if_needed(timeout=2000)
        page.screenshot(path=str(shot))
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
                              ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        text = " | ".join(t.strip()[-400:] for t in errors.all_inner_texts()) or "no error output"
        raise RuntimeError(f"the charts did not appear within {timeout_ms / 1000:.0f} s ({text}); screenshot {shot}") from None


def _console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


# ---- live lag --------------------------------------------------------------------------------------------------
LIVE_SETUP = '''
import asyncio, json, time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from breakout_kit import BreakoutRule, Dashboard, Watchlist, connect

client = await connect(speed={speed}, seed=0, start=datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/New_York")))
watchlist = Watchlist(client, rule=BreakoutRule(lookback=20), bar_size="1 min", backfill="3600 S")
arrivals = {{}}  # symbol -> [(bar wall-clock seconds, arrival time.time())]

def on_bar(watcher, bar, channel):
    wall = bar.time.replace(tzinfo=timezone.utc).timestamp()  # the charts show the bar's wall clock
    arrivals.setdefault(watcher.symbol, []).append((wall, time.time()))

watchlist.bar_event += on_bar
for symbol in {symbols!r}:
    watchlist.start(symbol)

def dump():
    with open("arrivals.json", "w") as f:
        json.dump(arrivals, f)
    asyncio.get_running_loop().call_later(0.5, dump)

dump()
'''

LIVE_DASH = '''
t = time.perf_counter()
dash = Dashboard(list(watchlist.watchers.values()), columns=4, window=300, chart_height=170, renderer={renderer!r})
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

# Samples every chart's newest shown bar (wall-clock seconds) every 100 ms: [Date.now(), symbol, shown].
SAMPLER_JS = """() => {
  window.__bkSamples = [];
  setInterval(() => {
    const now = Date.now();
    document.querySelectorAll('.bk-canvas').forEach(box => {
      const title = box.querySelector('.bk-title');
      if (box.dataset.last && title) __bkSamples.push([now, title.firstChild.textContent, +box.dataset.last]);
    });
    document.querySelectorAll('.js-plotly-plot').forEach(gd => {
      const x = gd.data && gd.data[0] && gd.data[0].x;
      if (!x || !x.length || !gd.layout.title) return;
      const symbol = String(gd.layout.title.text || '').split(' ')[0];
      __bkSamples.push([now, symbol, Date.parse(String(x[x.length - 1]) + 'Z') / 1000]);
    });
  }, 100);
}"""

FIRST_CHART_JS = """() => Array.from(document.querySelectorAll('.bk-canvas')).some(b => +b.dataset.bars > 0)
  || Array.from(document.querySelectorAll('.js-plotly-plot')).some(gd => gd.querySelectorAll('.boxlayer path').length)"""

ALL_CHARTS_JS = """(n) => Array.from(document.querySelectorAll('.bk-canvas')).filter(b => +b.dataset.bars > 0).length
  + Array.from(document.querySelectorAll('.js-plotly-plot')).filter(gd =>
      gd.querySelectorAll('.boxlayer path').length).length >= n"""


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


def live_lag(renderer: str = "canvas", *, charts: int = 20, speed: float = 60.0, seconds: float = 30.0,
             screenshot: Path | None = None, cycles: int = 0) -> dict:
    """Run the live notebook in chromium; returns lag percentiles, first-chart time, console errors and counts.

    ``cycles``: during the measurement, remove one chart and add it back that many times (a Stop/Start in a panel).
    """
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bk-browser-") as tmp:
        root = Path(tmp)
        _write_notebook(root / "live.ipynb", [LIVE_SETUP.format(speed=speed, symbols=list(SYMBOLS[:charts])),
                                              LIVE_DASH.format(renderer=renderer), "W.VBox([W.HBox([button, cycles]), dash])"])
        with jupyter_lab(root) as (base, token), sync_playwright() as p:
            browser = _launch(p)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors = _console_errors(page)
                _open(page, base, token, "live.ipynb")
                page.evaluate(SAMPLER_JS)
                started = time.monotonic()
                _run_all(page)
                _wait_or_explain(page, FIRST_CHART_JS)
                first_chart_s = time.monotonic() - started
                _wait_or_explain(page, ALL_CHARTS_JS, charts)
                # Backfills replay as fast as they load: measure the live phase only.
                page.wait_for_timeout(3000)
                since_ms = page.evaluate("Date.now()")
                for k in range(cycles):
                    page.wait_for_timeout(seconds * 1000 / (cycles + 1))
                    page.click(".bk-cycle")
                    page.wait_for_function("(n) => +document.querySelector('.bk-cycles').innerText >= n", arg=k + 1)
                page.wait_for_timeout(seconds * 1000 / (cycles + 1))
                samples = page.evaluate("window.__bkSamples")
                widths = page.evaluate("() => Array.from(document.querySelectorAll('.bk-canvas, .js-plotly-plot'))"
                                       ".map(e => e.getBoundingClientRect().width)")
                if screenshot is not None:
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    page.locator(".bk-canvas, .js-plotly-plot").nth(min(charts, 8) - 1).scroll_into_view_if_needed()
                    page.screenshot(path=str(screenshot), full_page=False)
                arrivals = json.loads((root / "arrivals.json").read_text())
            finally:
                browser.close()
    lags = sorted(lag_of(samples, arrivals, since_ms))
    if not lags:
        raise RuntimeError("no lag samples: the charts showed no bars")
    q = statistics.quantiles(lags, n=100) if len(lags) > 1 else [lags[0]] * 99
    live_bars = sum(1 for bars in arrivals.values() for _, t in bars if t * 1000 >= since_ms)
    return {"p50_s": q[49], "p90_s": q[89], "p99_s": q[98], "max_s": lags[-1], "samples": len(lags),
            "first_chart_s": first_chart_s, "console_errors": errors, "live_bars": live_bars,
            "min_chart_width_px": min(widths, default=0.0),
            "charts": charts, "speed": speed, "seconds": seconds, "renderer": renderer}


# ---- redraw of 20 canvas charts ---------------------------------------------------------------------------------
REDRAW_SETUP = '''
import asyncio, time
import ipywidgets as W
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from breakout_kit.client.events import Event
from breakout_kit.notebook import Dashboard

T0 = datetime(2026, 11, 23, 14, 30, tzinfo=timezone.utc)

def bar(i, base):
    c = base + ((i * 7919) % 101) * 0.05
    return SimpleNamespace(time=T0 + timedelta(minutes=i), open=c - 0.1, high=c + 0.3, low=c - 0.3, close=c,
                           volume=1000 + i % 13)

class Feed:
    def __init__(self, symbol):
        self.symbol, self.bar_event, self.signal_event = symbol, Event(), Event()

feeds = [Feed(f"SYM{k:02d}") for k in range(20)]
dash = Dashboard(feeds, columns=4, window=500, throttle=3600, chart_height=180)
for k, f in enumerate(feeds):
    for i in range(500):
        f.bar_event.emit(f, bar(i, 50 + k), (60.0 + k, 50.0 + k) if i >= 20 else None)
dash.flush()
next_bar = [500]
loop = asyncio.get_running_loop()
stamp = W.Label("0")
stamp.add_class("bk-stamp")

def redraw():
    """One new bar per chart, then every chart sends its window again (on the kernel's loop)."""
    started = time.time()  # the browser's Date.now() clock: the page times the redraw from here
    i = next_bar[0]
    next_bar[0] += 1
    for k, f in enumerate(feeds):
        f.bar_event.emit(f, bar(i, 50 + k), (60.0 + k, 50.0 + k))
    dash.flush()
    stamp.value = f"{started:.4f}"

button = W.Button(description="redraw all")
button.add_class("bk-redraw")
button.on_click(lambda _b: loop.call_soon_threadsafe(redraw))  # handlers may run on a subshell thread
'''

REDRAWN_JS = """([since, count]) => {
  const log = (globalThis.__bkCanvasDraws || []).filter(e => e.at >= since);
  const first = new Map();
  log.forEach(e => { if (!first.has(e.key)) first.set(e.key, e.at); });
  return first.size >= count ? Math.max(...first.values()) : null;
}"""


def redraw_20(rounds: int = 9) -> dict:
    """Median time for 20 canvas charts x 500 bars to show one more bar each (kernel handler -> last paint)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bk-browser-") as tmp:
        root = Path(tmp)
        _write_notebook(root / "redraw.ipynb", [REDRAW_SETUP, "W.VBox([W.HBox([button, stamp]), dash])"])
        with jupyter_lab(root) as (base, token), sync_playwright() as p:
            browser = _launch(p)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1200})
                errors = _console_errors(page)
                _open(page, base, token, "redraw.ipynb")
                _run_all(page)
                page.wait_for_selector(".bk-redraw", timeout=120_000)
                page.wait_for_function("() => document.querySelectorAll('.bk-canvas[data-bars=\"500\"]')"
                                       ".length >= 20", timeout=120_000)
                _wait_idle(page)
                times = []
                for _ in range(rounds):
                    before = page.locator(".bk-stamp").inner_text()
                    page.click(".bk-redraw")
                    page.wait_for_function("(b) => document.querySelector('.bk-stamp').innerText !== b",
                                           arg=before, timeout=30_000)
                    since = float(page.locator(".bk-stamp").inner_text()) * 1000
                    handle = page.wait_for_function(REDRAWN_JS, arg=[since, 20], timeout=30_000)
                    times.append(handle.json_value() - since)
                    page.wait_for_timeout(300)  # let the page settle between rounds
            finally:
                browser.close()
    return {"median_ms": statistics.median(times), "all_ms": [round(t, 1) for t in times],
            "console_errors": errors}


# ---- probes for bench/main.py --------------------------------------------------------------------------------
def _lag_measurements(renderer: str, quick: bool, lag_name: str, first_name: str) -> dict[str, Measurement]:
    r = live_lag(renderer, seconds=15 if quick else 40)
    details = {k: v for k, v in r.items() if k not in ("console_errors",)}
    details["console_errors"] = len(r["console_errors"])
    details["console_error_texts"] = r["console_errors"][:5]
    return {lag_name: Measurement(r["p90_s"], ours=r["p90_s"], unit="s", details=details),
            first_name: Measurement(r["first_chart_s"], ours=r["first_chart_s"], unit="s", details=details)}


def live_canvas(quick: bool) -> dict[str, Measurement]:
    """20 watchers at 60x in a canvas Dashboard: lag p90 and Run All -> first chart."""
    return _lag_measurements("canvas", quick, "browser_lag_p90_s", "first_chart_canvas_s")


def live_plotly(quick: bool) -> dict[str, Measurement]:
    """The same with Plotly charts."""
    return _lag_measurements("plotly", quick, "browser_lag_p90_plotly_s", "first_chart_s")


def redraw(quick: bool) -> dict[str, Measurement]:
    """20 canvas charts x 500 bars: one more bar each, median of several rounds."""
    r = redraw_20(rounds=5 if quick else 11)
    details = {"all_ms": r["all_ms"], "console_errors": len(r["console_errors"])}
    return {"browser_redraw_20_charts_ms": Measurement(r["median_ms"], ours=r["median_ms"], unit="ms",
                                                       details=details)}
