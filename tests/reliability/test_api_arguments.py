"""Bad arguments to public functions: hypothesis throws junk at every parameter; the only acceptable outcomes are
success or a clear one-line ``ValueError`` / ``TypeError`` (never another exception, never a hang). The async
client calls are checked against a live gateway: a bad argument must fail before anything is sent, and leave the
connection usable."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakout_kit.client.ib_client import IBClient
from breakout_kit.core.backtest import backtest
from breakout_kit.core.bars import BarAggregator, bar_seconds
from breakout_kit.core.breakout import BreakoutDetector, BreakoutRule, scan
from breakout_kit.gateway import PaperGateway
from breakout_kit.gateway.faults import Fault, FaultPlan
from breakout_kit.watch.watcher import BreakoutWatcher, TradeSpec

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.sampled_from([0, -1, 1, 2**63, 65536]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", " ", "up", "close", "1 min", "7 mins", "AAPL", "strict", "DU1", "0.0.0.0", "nan"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()), st.just(datetime(2026, 1, 1)), st.just(b"bytes"),
)
CLEAR = (ValueError, TypeError)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def clear_or_ok(fn, *args, **kwargs):
    """Call ``fn``; success or a one-line ValueError/TypeError is fine, anything else fails the test."""
    try:
        return fn(*args, **kwargs)
    except CLEAR as e:
        text = str(e)
        assert text and "\n" not in text, f"{fn.__name__}: unclear message {text!r}"
        return None


def kwargs_of(names):
    return st.fixed_dictionaries({}, optional={n: JUNK for n in names})


@FAST
@given(kwargs_of(["lookback", "trigger", "direction", "min_rel_volume"]))
def test_breakout_rule(kw):
    rule = clear_or_ok(BreakoutRule, **kw)
    if rule is not None:                                   # accepted values are usable
        assert rule.lookback >= 1 and math.isfinite(rule.min_rel_volume)
        BreakoutDetector(rule)


@FAST
@given(JUNK, JUNK)
def test_scan_and_detector(df, rule):
    clear_or_ok(scan, df, rule if isinstance(rule, BreakoutRule) else None)
    clear_or_ok(BreakoutDetector, rule)


@FAST
@given(st.lists(st.tuples(JUNK, JUNK), min_size=1, max_size=3))
def test_scan_with_junk_columns(cols):
    frame = pd.DataFrame({str(i): [v] for i, (v, _) in enumerate(cols)})
    clear_or_ok(scan, frame, BreakoutRule())


@FAST
@given(kwargs_of(["take_profit_pct", "stop_loss_pct", "entry", "quantity", "cash", "commission",
                  "min_commission", "max_holding_bars", "initial_capital"]))
def test_backtest(kw):
    bars = pd.DataFrame({"open": [1.0] * 30, "high": [1.1] * 30, "low": [0.9] * 30, "close": [1.0] * 30,
                         "volume": [100.0] * 30},
                        index=pd.date_range("2026-01-05 14:30", periods=30, freq="1min", tz="UTC"))
    kw.setdefault("take_profit_pct", 2.0)
    kw.setdefault("stop_loss_pct", 1.0)
    clear_or_ok(backtest, bars, BreakoutRule(lookback=5), **kw)


@FAST
@given(JUNK, JUNK, JUNK)
def test_trade_spec_bar_sizes_aggregator(q, tp, sl):
    clear_or_ok(TradeSpec, q, tp, sl)
    clear_or_ok(bar_seconds, q)
    if isinstance(q, int) and not isinstance(q, bool) and 0 < q < 10**6:
        clear_or_ok(BarAggregator, q)


@FAST
@given(kwargs_of(["symbol", "rule", "bar_size", "max_bars", "on_signal", "trade"]))
def test_watcher_constructor(kw):
    kw.setdefault("symbol", "AAPL")
    clear_or_ok(BreakoutWatcher, object(), **kw)


@FAST
@given(kwargs_of(["host", "port", "client_id", "max_quantity", "max_notional", "timeout", "clock_speed"]))
def test_ib_client_constructor(kw):
    clear_or_ok(IBClient, **kw)                            # nothing connects here


@FAST
@given(kwargs_of(["host", "port", "seed", "speed", "start", "pacing", "account", "allow_remote"]))
def test_gateway_constructor(kw):
    gw = clear_or_ok(PaperGateway, **kw)                   # constructed only: nothing binds
    if gw is not None:
        assert gw.host in ("127.0.0.1", "localhost", "::1") or gw.allow_remote or gw.host.startswith("127.")


@FAST
@given(JUNK, JUNK, kwargs_of(["kinds", "gap", "outage"]), JUNK, JUNK, JUNK, JUNK)
def test_fault_plans(seed, count, kw, kind, wait, duration, pick):
    if isinstance(count, int) and count > 1000:
        count = 1000
    clear_or_ok(FaultPlan, seed, count, **kw)
    clear_or_ok(FaultPlan.parse, f"{seed}:{count}")
    clear_or_ok(Fault, kind, wait, duration, pick)


# ---- async client calls against a live gateway ---------------------------------------------------------------

BAD_HISTORY = [
    {"bar_size": "7 mins"}, {"bar_size": 60}, {"duration": "0 D"}, {"duration": "1 day"}, {"duration": None},
    {"what": "PRICE"}, {"use_rth": "yes"}, {"use_rth": 1}, {"end": "garbage"}, {"end": datetime(2026, 11, 23)},
    {"end": 20261123},
]


@pytest.mark.ib
async def test_bad_client_calls_fail_fast_and_keep_the_connection(gateway, client_id):
    async with IBClient(port=gateway.port, client_id=client_id, timeout=5) as c:
        loop = asyncio.get_running_loop()
        for kw in BAD_HISTORY:
            t0 = loop.time()
            with pytest.raises(CLEAR):
                await c.history("AAPL", **kw)
            assert loop.time() - t0 < 1, kw                 # refused before sending, not after a timeout
        for bad in (123, None, b"AAPL", ["AAPL"]):
            with pytest.raises(TypeError):
                await c.qualify(bad)
        with pytest.raises(ValueError, match="not a valid symbol"):
            await c.qualify("aa pl$")
        assert c.connected and c.reconnects == 0
        assert len(await c.history("AAPL", "1800 S", "1 min")) in (30, 31)    # 31 with the forming bar, as TWS
