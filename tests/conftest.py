"""Shared fixtures. Servers bind loopback only; nothing here needs TWS or the internet."""

from __future__ import annotations

import itertools
import os
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

# A fixed Monday 09:30 New York session open: every gateway in the tests starts here unless a test says otherwise,
# so prices are identical run to run.
SESSION_OPEN = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("America/New_York"))

_client_ids = itertools.count(100)
SLOW_REASON = "long suite: run with --runslow"
# CI sets this: a skip other than a declared slow suite fails the run (a browser test that skipped because chromium is
# missing checked nothing, and a green CI must mean it ran).
STRICT_SKIPS_ENV = "BREAKOUT_KIT_STRICT_SKIPS"
_unexpected_skips: list[str] = []


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run the long suites")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running suites (run with --runslow)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason=SLOW_REASON)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


def pytest_runtest_logreport(report):
    if report.skipped and os.environ.get(STRICT_SKIPS_ENV) == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if SLOW_REASON not in reason:
            _unexpected_skips.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if _unexpected_skips and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _unexpected_skips:
        terminalreporter.write_line(f"{STRICT_SKIPS_ENV}=1: {len(_unexpected_skips)} test(s) skipped outside "
                                    "--runslow, failing the run (first: " + _unexpected_skips[0] + ")", red=True)


@pytest.fixture
def client_id() -> int:
    """A fresh clientId per use, so tests never collide on error 326."""
    return next(_client_ids)


@pytest.fixture
async def gateway():
    """An embedded paper gateway on a free loopback port, at 60x speed, pacing off."""
    from breakout_kit.gateway import PaperGateway

    async with PaperGateway(port=0, seed=0, speed=60.0, start=SESSION_OPEN, pacing="off") as gw:
        yield gw


def minute_bars(sessions: int = 10, seed: int = 0, bars_per_session: int = 390, tz: str = "America/New_York"):
    """A random walk of 1-minute bars over ``sessions`` weekdays from 09:30 New York (UTC index), for backtests."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2026-01-05", periods=sessions)
    local = np.concatenate([pd.date_range(d + pd.Timedelta("09:30:00"), periods=bars_per_session, freq="1min")
                            .to_numpy() for d in days])
    index = pd.DatetimeIndex(local).tz_localize(tz).tz_convert("UTC")
    n = len(index)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.r_[close[0], close[:-1]] * (1 + rng.normal(0, 0.0003, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0007, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0007, n)))
    volume = rng.integers(100, 10_000, n).astype(float)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume},
                        index=index.rename("time"))


def same_stat(a, b) -> bool:
    """Exact equality of two stat values, where NaN equals NaN and NaT equals NaT (sweep rows vs backtest())."""
    import math

    import pandas as pd

    if a is pd.NaT or b is pd.NaT:
        return a is b
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b
