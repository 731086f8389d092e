"""Live charts in a real browser: the benchmark's 20-chart notebook (bench/browser.py) at 60x, how far behind the
kernel the page is, that the views acknowledge, and console errors.

JupyterLab on loopback, Debian chromium via Playwright (skipped only when chromium or playwright is missing).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from breakout_kit.bench import browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400),
              pytest.mark.skipif(browser.skip_reason() is not None, reason=browser.skip_reason() or "")]


@pytest.mark.parametrize("renderer", ["canvas", "plotly"])
def test_twenty_live_charts_at_60x_keep_up_with_the_kernel(renderer):
    # One tile is removed and added back twice meanwhile, as a Stop/Start does: no errors, no stall.
    window = 500 if renderer == "canvas" else browser.PLOTLY_WINDOW
    r = browser.live(renderer, charts=20, speed=60.0, seconds=20, cycles=2, window=window,
                     screenshot=ARTIFACTS / f"live-dashboard-{renderer}.png")
    assert r["live_bars"] >= 20 * 10  # the watchers were live: about one bar per chart per second
    assert r["acks"] >= 20  # every view acknowledges what it drew (the kernel gates its updates on that)
    # The page keeps up instead of drifting (before #26 it fell 28-90 s behind). The 1 s goal is a timing and
    # belongs to the benchmark (bench --browser: plotly_20_lag_p90_s); this bound holds beside two CPU hogs too
    # (p90 1.9 s seen at load 7), and a drifting page exceeds it within the run's 20 s.
    assert r["p90_s"] <= 5.0, r
    assert r["console_errors"] == []
    assert r["min_chart_width_px"] >= 150  # every tile drawn at a readable size
