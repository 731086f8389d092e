"""Property: the vectorized scan (and the pandas baseline) give exactly the streaming detector's signals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakout_kit.bench.baseline import scan_pandas_baseline
from breakout_kit.core.breakout import BreakoutDetector, BreakoutRule, bars_from_df, scan

rules = st.builds(
    BreakoutRule,
    lookback=st.integers(1, 8),
    trigger=st.sampled_from(["close", "high"]),
    direction=st.sampled_from(["up", "down", "both"]),
    min_rel_volume=st.one_of(st.just(0.0), st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]),
                             st.floats(0.01, 5.0, allow_nan=False)),
)

# Small integer prices make ties with the channel edges (close == upper, open == upper, ...) frequent on purpose.
bar_parts = st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(0, 2), st.integers(0, 2))
volumes = st.one_of(st.integers(0, 6).map(float), st.just(math.nan), st.just(-1.0),
                    st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False))


@st.composite
def bar_frames(draw):
    n = draw(st.integers(0, 60))
    parts = draw(st.lists(bar_parts, min_size=n, max_size=n))
    vols = draw(st.lists(volumes, min_size=n, max_size=n))
    o = np.array([p[0] for p in parts], dtype=float)
    c = np.array([p[1] for p in parts], dtype=float)
    h = np.maximum(o, c) + np.array([p[2] for p in parts], dtype=float)
    lo = np.minimum(o, c) - np.array([p[3] for p in parts], dtype=float)
    # irregular but strictly increasing times, as real bars with gaps have
    steps = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    times = pd.Timestamp("2026-11-23 14:30", tz="UTC") + pd.to_timedelta(np.cumsum(steps), unit="min")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": np.array(vols, dtype=float)},
                        index=pd.DatetimeIndex(times, name="time"))


def streamed(df, rule):
    det = BreakoutDetector(rule)
    out = []
    for bar in bars_from_df(df):
        out.extend((pd.Timestamp(s.time), s.direction, s.level, s.price) for s in det.update(bar))
    return out


def rows(sig_df):
    return [(pd.Timestamp(r.time), r.direction, r.level, r.price) for r in sig_df.itertuples()]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=bar_frames(), rule=rules)
def test_scan_equals_streaming_detector(df, rule):
    assert rows(scan(df, rule)) == streamed(df, rule)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=bar_frames(), rule=rules)
def test_pandas_baseline_equals_scan(df, rule):
    assert rows(scan_pandas_baseline(df, rule)) == rows(scan(df, rule))


def random_walk(n, seed):
    rng = np.random.default_rng(seed)
    c = np.round(100 + np.cumsum(rng.normal(0, 0.2, n)), 2)
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) + np.round(rng.random(n) * 0.1, 2)
    lo = np.minimum(o, c) - np.round(rng.random(n) * 0.1, 2)
    v = rng.integers(0, 5000, n).astype(float)
    v[rng.random(n) < 0.01] = np.nan
    t = pd.date_range("2026-01-02 14:30", periods=n, freq="1min", tz="UTC")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": v}, index=t)


def test_identity_on_a_longer_random_walk():
    df = random_walk(20_000, seed=3)
    for rule in (BreakoutRule(), BreakoutRule(50, "high", "both", 1.8), BreakoutRule(5, "close", "down", 1.0)):
        expected = streamed(df, rule)
        assert len(expected) > 20  # the series has plenty of breakouts
        assert rows(scan(df, rule)) == expected
        assert rows(scan_pandas_baseline(df, rule)) == expected


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=bar_frames(), rule=rules)
def test_can_signal_false_means_no_signal(df, rule):
    """The watcher defers the detector update of a live bar ``can_signal`` rules out: that bar must never signal."""
    det = BreakoutDetector(rule)
    ruled_out = 0
    for bar in bars_from_df(df):
        possible = det.can_signal(bar.high, bar.low, bar.close)
        signals = det.update(bar)
        assert possible or not signals, f"can_signal said no, update gave {signals}"
        ruled_out += not possible
    assert ruled_out >= min(len(df), rule.lookback)       # warm-up bars are always ruled out
