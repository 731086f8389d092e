"""Shared fixtures. Servers bind loopback only; nothing here needs TWS or the internet."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

# A fixed Monday 09:30 New York session open: every gateway in the tests starts here unless a test says otherwise,
# so prices are identical run to run.
SESSION_OPEN = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("America/New_York"))

_client_ids = itertools.count(100)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run the long suites")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running suites (run with --runslow)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="long suite: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


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
