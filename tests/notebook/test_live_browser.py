"""Live charts in a real browser: 20 watchers at 60x, how far behind the kernel the page is, and console errors.

JupyterLab on loopback, Debian chromium via Playwright (skipped only when chromium or playwright is missing).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from breakout_kit.bench import browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400),
              pytest.mark.skipif(browser.skip_reason() is not None, reason=browser.skip_reason() or "")]


def test_twenty_canvas_charts_at_60x_stay_within_a_second_of_the_kernel():
    # One tile is removed and added back three times meanwhile, as a Stop/Start does: no errors, no stall.
    r = browser.live_lag("canvas", charts=20, speed=60.0, seconds=20, cycles=3,
                         screenshot=ARTIFACTS / "live-dashboard.png")
    assert r["live_bars"] >= 20 * 10  # the watchers were live: about one bar per chart per second
    assert r["samples"] >= 20 * 50
    assert r["p90_s"] <= 1.0, r
    assert r["console_errors"] == []
    assert r["min_chart_width_px"] >= 150  # every tile drawn at a readable size
