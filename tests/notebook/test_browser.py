"""Real-browser tests: JupyterLab on loopback, Debian chromium via Playwright (skipped only without chromium)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from breakout_kit.bench import lab
from breakout_kit.bench.browser import SYMBOLS
from breakout_kit.bench.lab import (
    CHARTS_JS,
    PLOTLY_CANDLES_JS,
    SUBSHELL_MODES,
    cell_errors,
    charts,
    console_errors,
    error_lines,
    jupyter_lab,
    mark_charts,
    notebook_dirty,
    open_notebook,
    panel_table,
    restart_kernel,
    run_all,
    type_and_click,
    wait_idle,
    wait_table,
)
from breakout_kit.connection import SPEED_ENV

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
UPDATE_SCREENSHOT_ENV = "BK_UPDATE_SCREENSHOT"  # =1: copy the quickstart picture to notebooks/screenshot.png

pytestmark = [pytest.mark.browser, pytest.mark.skipif(lab.skip_reason() is not None,
                                                      reason=lab.skip_reason() or "")]

def record(name: str, values: dict) -> None:
    """Add measured numbers to test-artifacts/browser-measurements.json (read by humans, not by tests)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "browser-measurements.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = values
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.timeout(400)
def test_quickstart_run_all_in_jupyterlab(tmp_path):
    """Open 01_quickstart in JupyterLab, Run All: charts render, candles grow, a signal arrives, no errors."""
    from playwright.sync_api import sync_playwright

    nb = nbformat.read(REPO / "notebooks" / "01_quickstart.ipynb", as_version=4)  # a copy, never the repo file
    nb.metadata["language_info"]["version"] = platform.python_version()  # the one machine-dependent field
    nbformat.write(nb, tmp_path / "01_quickstart.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    # A slower market than the notebook's 300x: Plotly's bundle takes seconds to load, and at 300x the notebook has
    # stopped its watchers before the first chart is on screen, so candles could not be seen growing.
    env = {SPEED_ENV: "60"}
    with jupyter_lab(tmp_path, env, log=tmp_path / "lab.log") as (base, token), sync_playwright() as p:
        browser = lab.launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            open_notebook(page, base, token, "01_quickstart.ipynb")
            dirty_on_open = notebook_dirty(page)  # the saved notebook must match what JupyterLab makes of it
            started = time.monotonic()
            run_all(page)
            page.wait_for_selector(".bk-plotly .boxlayer path.box", timeout=120_000)
            first_chart = time.monotonic() - started
            counts = page.evaluate(PLOTLY_CANDLES_JS)
            # Candles keep arriving while the notebook waits for a signal and 30 more bars.
            page.wait_for_function(f"() => ({PLOTLY_CANDLES_JS})().reduce((a, b) => a + b, 0) > {sum(counts)}",
                                   timeout=60_000)
            # The README picture, taken while the watchers are live: the panel (status, controls, watchers table)
            # and the first live chart.
            panel = page.locator(".jp-OutputArea-output:has(.bk-plotly)").first
            panel.evaluate("el => el.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)  # one settled frame after scrolling
            page.screenshot(path=str(ARTIFACTS / "quickstart.png"))
            page.wait_for_selector(".jp-OutputArea-output >> text=/breakout at/", timeout=90_000)
            grown = page.evaluate(PLOTLY_CANDLES_JS)
            # The dashboard's canvas charts: one per watcher, full height (they once collapsed to a 30 px strip).
            page.wait_for_function("() => document.querySelectorAll('.tv-lightweight-charts').length >= 3",
                                   timeout=30_000)
            canvas_heights = page.evaluate(
                "() => Array.from(document.querySelectorAll('.tv-lightweight-charts')).map(e => e.clientHeight)")
            wait_idle(page, 120_000)
            page.wait_for_selector(".jp-OutputArea-output >> text=/'stopped'/", timeout=30_000)
            errors = cell_errors(page)
            page.screenshot(path=str(ARTIFACTS / "quickstart-end.png"), full_page=True)
        finally:
            browser.close()
    if os.environ.get(UPDATE_SCREENSHOT_ENV) == "1":  # on request only: a test run must not dirty the repository
        shutil.copy(ARTIFACTS / "quickstart.png", REPO / "notebooks" / "screenshot.png")
    assert not dirty_on_open
    record("quickstart", {"first_chart_s": round(first_chart, 2), "candles_first": counts, "candles_later": grown})
    assert len(counts) >= 3 and sum(grown) > sum(counts)
    assert min(canvas_heights) >= 150, canvas_heights
    assert not [e for e in errors if "Traceback" in e or "Error" in e], errors


# A panel with two running watchers, plus a probe that shows on which kernel thread the widget handlers run.
PANEL_CELLS = [
    """import asyncio, threading
from datetime import datetime
from zoneinfo import ZoneInfo
import ipywidgets as W
from breakout_kit import *

client = await connect(speed=60, seed=0, start=datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("America/New_York")))
panel = ControlPanel(client, rule=BreakoutRule(lookback=20), backfill="3600 S", window=120, chart_height=240)
for symbol in ("AAPL", "MSFT"):
    panel.start(symbol)
handler_thread = W.HTML()
handler_thread.add_class("bk-handler-thread")
loop = asyncio.get_running_loop()
panel.symbol.on_action(lambda action, text: loop.call_soon_threadsafe(
    setattr, handler_thread, "value", threading.current_thread().name))
W.VBox([panel, handler_thread])""",
]


@pytest.mark.parametrize("subshells", SUBSHELL_MODES)
@pytest.mark.timeout(400)
def test_panel_used_by_a_person(subshells, tmp_path):
    """Type + click at once, Enter, a bad symbol, Stop/Start one symbol while others run, Clear, kernel restart.

    Run with JupyterLab's default "comms over subshells" (widget handlers on a subshell thread) and with it disabled.
    """
    from playwright.sync_api import sync_playwright

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in PANEL_CELLS],
                                            metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                     "display_name": "Python 3 (ipykernel)"}}),
                   tmp_path / "panel.ipynb")
    with jupyter_lab(tmp_path, log=tmp_path / "lab.log", comms_over_subshells=None if subshells == "perCommTarget"
                     else subshells) as (base, token), sync_playwright() as p:
        browser = lab.launch(p)
        t0 = time.monotonic()
        steps = {}

        def step(name):
            steps[name] = round(time.monotonic() - t0, 1)

        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            errors = console_errors(page)
            open_notebook(page, base, token, "panel.ipynb")
            run_all(page)
            page.wait_for_function("() => document.querySelectorAll('.bk-plotly').length >= 2",
                                   timeout=120_000)
            wait_table(page, "MSFT", "live")
            start = page.locator(".bk-start")
            step('panel_live')
            assert start.is_disabled()  # nothing typed yet

            # 1. Type a symbol and click Start with no pause: the kernel must start what the box showed.
            type_and_click(page, "AMZN")
            wait_table(page, "AMZN", "live")
            thread = page.locator(".bk-handler-thread").inner_text()
            step('typed_click')
            # 2. Enter in the box starts too.
            box = page.locator(".bk-symbol")
            box.fill("")
            box.press_sequentially("nvda")
            box.press("Enter")
            wait_table(page, "NVDA", "live")
            step('enter')
            # 3. A bad symbol: one clear error line, nothing started.
            type_and_click(page, "ZZZZ")
            page.wait_for_function("() => document.querySelectorAll('.bk-errors .bk-error').length >= 1",
                                   timeout=30_000)
            bad = error_lines(page)
            assert len(bad) == 1 and "ZZZZ" in bad[0] and "\n" not in bad[0], bad
            assert "ZZZZ" not in panel_table(page)
            page.locator(".bk-errors-clear button, button.bk-errors-clear").first.click()
            page.wait_for_function("() => document.querySelectorAll('.bk-errors .bk-error').length === 0")
            step('bad_symbol')

            # 4. Stop then Start one symbol while the others run: the others keep their view, size and pace.
            page.wait_for_function(  # four charts, each showing candles
                f"() => {{ const c = Object.values(({CHARTS_JS})()); return c.length >= 4 && c.every(x => x.n); }}",
                timeout=60_000)
            mark_charts(page)
            before = charts(page)
            type_and_click(page, "MSFT", ".bk-stop")
            wait_table(page, "MSFT", "stopped")
            type_and_click(page, "MSFT")
            wait_table(page, "MSFT", "live")
            others = [s for s in ("AAPL", "AMZN", "NVDA")]
            page.wait_for_function(  # every other chart shows newer bars than before the restart
                f"""() => {{ const now = ({CHARTS_JS})(); const before = {json.dumps(before)};
                    return {json.dumps(others)}.every(s => now[s] && now[s].last > before[s].last); }}""",
                timeout=60_000)
            after = charts(page)
            step('restart_symbol')
            table = panel_table(page)
            empty_disabled = None
            box.fill("")
            empty_disabled = start.is_disabled()

            # 5. Restart the kernel: the old panel must stop saying "connected".
            restart_kernel(page)
            page.wait_for_selector(".bk-status .bk-gone", state="visible", timeout=60_000)
            live_visible = page.locator(".bk-status .bk-live").is_visible()
            step('kernel_restart')
        finally:
            ARTIFACTS.mkdir(exist_ok=True)  # also on failure: what the page showed
            page.screenshot(path=str(ARTIFACTS / f"panel-{subshells}.png"), full_page=True)
            record(f"panel_{subshells}_last_seen", {"charts": charts(page), "table": panel_table(page),
                                                     "steps_s": steps, "console_errors": errors[:20]})
            browser.close()
    print(subshells, steps)
    record(f"panel_{subshells}", {"handler_thread": thread, "console_errors": len(errors), "steps_s": steps,
                                  "charts_before": before, "charts_after": after})
    if subshells == "disabled":
        assert thread == "MainThread", thread
    else:
        assert thread != "MainThread", thread  # the setting is in effect: handlers ran on a subshell thread
    assert {"AAPL", "MSFT", "AMZN", "NVDA"} <= set(table) and "ZZZZ" not in table
    for s in others:
        assert after[s]["mark"] == s, (s, after[s])  # the same view: not torn down and re-made
        assert (after[s]["width"], after[s]["height"]) == (before[s]["width"], before[s]["height"]), (before, after)
    assert after["MSFT"]["mark"] is None  # only the restarted symbol got a new view
    assert empty_disabled and not live_visible
    assert errors == [], errors


ADVANCED_JS = """([symbols, before]) => { const now = (CHARTS)();
    return symbols.every(s => now[s] && before[s] && now[s].last > before[s].last); }""".replace("CHARTS", CHARTS_JS)


@pytest.mark.timeout(500)
def test_quickstart_with_twenty_symbols_typed_into_the_panel(tmp_path):
    """The quickstart up to its Start cell (3 watchers), then 17 more symbols typed into the panel like a person:
    20 Plotly charts advance at 60x; Stop + Start of one leaves the other 19 advancing; no console errors."""
    from playwright.sync_api import sync_playwright

    nb = nbformat.read(REPO / "notebooks" / "01_quickstart.ipynb", as_version=4)
    nbformat.write(nb, tmp_path / "01_quickstart.ipynb")
    started = [s for s in ("AAPL", "MSFT", "NVDA")]
    typed = [s for s in SYMBOLS if s not in started][:17]
    with jupyter_lab(tmp_path, {SPEED_ENV: "60"}, log=tmp_path / "lab.log") as (base, token), \
            sync_playwright() as p:
        browser = lab.launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors = console_errors(page)
            open_notebook(page, base, token, "01_quickstart.ipynb")
            # Run the notebook up to the cell that starts its three watchers, as a reader would.
            page.locator(".jp-Cell", has_text="watchers = [panel.start").first.click()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.locator("li.lm-Menu-item[data-command='notebook:run-all-above']").click()
            page.locator(".jp-Cell", has_text="watchers = [panel.start").first.click()
            page.keyboard.press("Shift+Enter")
            for symbol in started:
                wait_table(page, symbol, "live", timeout=120_000)
            for symbol in typed:  # key by key, then Enter, no pause
                box = page.locator(".bk-symbol")
                box.fill("")
                box.press_sequentially(symbol)
                box.press("Enter")
            for symbol in typed:
                wait_table(page, symbol, "live", timeout=120_000)
            everyone = started + typed
            page.wait_for_function(f"() => {{ const c = ({CHARTS_JS})(); return {json.dumps(everyone)}"
                                   ".every(s => c[s] && c[s].n > 0); }", timeout=120_000)
            before = charts(page)
            page.wait_for_function(ADVANCED_JS, arg=[everyone, before], timeout=60_000)  # all 20 advance
            mark_charts(page)
            type_and_click(page, "MSFT", ".bk-stop")
            wait_table(page, "MSFT", "stopped")
            paused = charts(page)
            others = [s for s in everyone if s != "MSFT"]
            page.wait_for_function(ADVANCED_JS, arg=[others, paused], timeout=60_000)  # the others go on
            type_and_click(page, "MSFT")
            wait_table(page, "MSFT", "live")
            restarted = charts(page)
            page.wait_for_function(ADVANCED_JS, arg=[others, restarted], timeout=60_000)  # still going
            page.wait_for_function(ADVANCED_JS, arg=[["MSFT"], paused], timeout=60_000)  # MSFT past its stop
            after = charts(page)
            table = panel_table(page)
            page.screenshot(path=str(ARTIFACTS / "quickstart-20.png"))
        finally:
            browser.close()
    record("quickstart_20_symbols", {"charts_after": after, "console_errors": errors[:10]})
    assert set(everyone) <= set(table) and all(table[s]["state"].startswith("live") for s in everyone)
    assert all(after[s]["mark"] == s for s in others)  # the other views were never torn down
    assert errors == [], errors
