"""Pinned breakout semantics (architecture.md), streaming detector and scan, on hand-computed data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breakout_kit.core import breakout
from breakout_kit.core.breakout import Bar, BreakoutDetector, BreakoutRule, Signal, bars_from_df, scan

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 11, 23, 14, 30, tzinfo=timezone.utc)


def make_bars(rows, start=T0):
    """rows: (open, high, low, close[, volume]) tuples -> one-minute bars."""
    out = []
    for j, r in enumerate(rows):
        o, h, lo, c, *rest = r
        out.append(Bar(start + timedelta(minutes=j), float(o), float(h), float(lo), float(c),
                       float(rest[0]) if rest else 100.0))
    return out


def flat(n, price=10.0, spread=1.0, volume=100.0):
    """n quiet bars, high = price + spread, low = price - spread."""
    return [(price, price + spread, price - spread, price, volume)] * n


def feed(rule, bars):
    det = BreakoutDetector(rule)
    sigs = []
    for b in bars:
        sigs.extend(det.update(b))
    return det, sigs


def frame(bars):
    return pd.DataFrame({
        "open": [b.open for b in bars], "high": [b.high for b in bars], "low": [b.low for b in bars],
        "close": [b.close for b in bars], "volume": [b.volume for b in bars],
    }, index=pd.DatetimeIndex([b.time for b in bars], name="time"))


def as_tuples(sigs, bars):
    """Signals as (bar index, direction, level, price), from Signal objects or a scan() frame."""
    pos = {pd.Timestamp(b.time): j for j, b in enumerate(bars)}
    if isinstance(sigs, pd.DataFrame):
        return [(pos[pd.Timestamp(r.time)], r.direction, r.level, r.price) for r in sigs.itertuples()]
    return [(pos[pd.Timestamp(s.time)], s.direction, s.level, s.price) for s in sigs]


def both_paths(rule, bars):
    """Signals from the streaming detector and from scan(); asserts they agree and returns them."""
    _, sigs = feed(rule, bars)
    streamed = as_tuples(sigs, bars)
    assert as_tuples(scan(frame(bars), rule), bars) == streamed
    return streamed


# ------------------------------------------------------------------------------------------------- hand-computed

SMALL = pd.read_csv(DATA / "breakout_small.csv")
SMALL_BARS = bars_from_df(SMALL)

# Worked out by hand, lookback 3. Channel (upper, lower) for bars 3..9: (12,9) (13,9) (14,10) (14,11) (16,12) (16,10)
# (16,10).  Trigger close: bar 3 closes ON the edge (12 == 12, no signal); bar 4 13.5 > 13; bar 5 13 < 14 re-arms;
# bar 6 15.5 > 14; bar 7 11 < 12 (down).  Trigger high: bar 3 high 13 > 12 fills at the edge 12 (open 11); bar 4
# is the same run; bar 5 13.5 < 14 re-arms; bar 6 gaps open at 15 > 14 and fills at the open; bar 7 low 10 < 12
# fills at 12; bar 8 re-arms down (10.5 >= 10); bar 9 breaks both edges (17 > 16, 9 < 10): up first, then down.
EXPECTED_CLOSE = [(4, "up", 13.0, 13.5), (6, "up", 14.0, 15.5), (7, "down", 12.0, 11.0)]
EXPECTED_HIGH = [(3, "up", 12.0, 12.0), (6, "up", 14.0, 15.0), (7, "down", 12.0, 12.0),
                 (9, "up", 16.0, 16.0), (9, "down", 10.0, 10.0)]
# Volume filter x2: bar 4 (300 vs mean 100) passes; bar 6 (50 vs mean 166.7) and bar 7 (100 vs 150) fail.
EXPECTED_CLOSE_VOL2 = [(4, "up", 13.0, 13.5)]


@pytest.mark.parametrize("rule, expected", [
    (BreakoutRule(3, "close", "both"), EXPECTED_CLOSE),
    (BreakoutRule(3, "high", "both"), EXPECTED_HIGH),
    (BreakoutRule(3, "close", "both", min_rel_volume=2.0), EXPECTED_CLOSE_VOL2),
    (BreakoutRule(3, "close", "up"), [e for e in EXPECTED_CLOSE if e[1] == "up"]),
    (BreakoutRule(3, "high", "down"), [e for e in EXPECTED_HIGH if e[1] == "down"]),
])
def test_hand_computed_example(rule, expected):
    _, sigs = feed(rule, SMALL_BARS)
    assert as_tuples(sigs, SMALL_BARS) == expected
    assert as_tuples(scan(SMALL, rule), SMALL_BARS) == expected


def test_hand_computed_channel_and_bars_seen():
    det = BreakoutDetector(BreakoutRule(3, "close", "both"))
    channels = []
    for b in SMALL_BARS:
        det.update(b)
        channels.append(det.channel)
    assert channels[:3] == [None, None, None]
    assert channels[3:] == [(12, 9), (13, 9), (14, 10), (14, 11), (16, 12), (16, 10), (16, 10)]
    assert det.bars_seen == 10
    assert det.rule == BreakoutRule(3, "close", "both")
    np.testing.assert_array_equal(
        np.column_stack(breakout.channel_arrays(SMALL.high.to_numpy(float), SMALL.low.to_numpy(float), 3))[3:],
        np.array(channels[3:], dtype=float))


# ------------------------------------------------------------------------------------------------- pinned rules

def test_rule_defaults_and_validation():
    r = BreakoutRule()
    assert (r.lookback, r.trigger, r.direction, r.min_rel_volume) == (20, "close", "up", 0.0)
    for kwargs in [{"lookback": 0}, {"lookback": -3}, {"lookback": 2.5}, {"lookback": True},
                   {"trigger": "open"}, {"direction": "sideways"}, {"min_rel_volume": -1},
                   {"min_rel_volume": float("nan")}, {"min_rel_volume": float("inf")},
                   {"min_rel_volume": "lots"}]:
        with pytest.raises(ValueError):
            BreakoutRule(**kwargs)
    with pytest.raises(TypeError):
        BreakoutDetector("not a rule")


@pytest.mark.parametrize("direction", ["up", "down"])
def test_tie_with_channel_edge_is_not_a_breakout(direction):
    sign = 1 if direction == "up" else -1
    edge = 10.0 + sign * 1.0
    tie = (10, max(edge, 10), min(edge, 10), edge)  # closes exactly on the edge
    past = (10, max(edge + sign * 0.5, 10), min(edge + sign * 0.5, 10), edge + sign * 0.5)
    rule = BreakoutRule(3, "close", direction)
    assert both_paths(rule, make_bars(flat(3) + [tie])) == []
    assert both_paths(rule, make_bars(flat(3) + [past])) == [(3, direction, edge, edge + sign * 0.5)]
    # trigger high: high == upper (low == lower) ties too
    assert both_paths(BreakoutRule(3, "high", direction), make_bars(flat(3) + [tie])) == []


def test_gap_open_above_channel_fills_at_open_with_trigger_high():
    bars = make_bars(flat(3) + [(12.5, 13, 12, 12.2)])  # channel upper 11, open 12.5
    assert both_paths(BreakoutRule(3, "high"), bars) == [(3, "up", 11.0, 12.5)]
    # no gap: open below the channel -> fills at the channel edge
    bars = make_bars(flat(3) + [(10.5, 13, 10, 12.2)])
    assert both_paths(BreakoutRule(3, "high"), bars) == [(3, "up", 11.0, 11.0)]
    # gap down below the lower edge fills at the open
    bars = make_bars(flat(3) + [(7.5, 8, 7, 7.8)])
    assert both_paths(BreakoutRule(3, "high", "down"), bars) == [(3, "down", 9.0, 7.5)]
    # trigger close always reports the close
    assert both_paths(BreakoutRule(3, "close"), make_bars(flat(3) + [(12.5, 13, 12, 12.2)])) == [
        (3, "up", 11.0, 12.2)]


def test_first_lookback_bars_never_signal():
    rising = [(10 + j, 11 + j, 9 + j, 10.5 + j) for j in range(8)]  # every bar is above all earlier ones
    bars = make_bars(rising)
    for lookback in (1, 3, 5, 7, 8, 20):
        sigs = both_paths(BreakoutRule(lookback, "close", "up"), bars)
        # a steady rise is one breakout run: exactly one signal, on the first evaluated bar
        assert sigs == ([(lookback, "up", 11.0 + lookback - 1, 10.5 + lookback)] if lookback < 8 else [])


def test_channel_uses_previous_bars_only_and_is_none_in_warmup():
    det = BreakoutDetector(BreakoutRule(2))
    bars = make_bars([(10, 11, 9, 10), (10, 12, 8, 10), (10, 20, 1, 10), (10, 10.5, 9.5, 10)])
    seen = []
    for b in bars:
        det.update(b)
        seen.append(det.channel)
    assert seen == [None, None, (12.0, 8.0), (20.0, 1.0)]


def test_one_signal_per_run_and_rearm_when_price_condition_false():
    # upper = 11 for the quiet bars; three closes in a row above their channels are one run.
    rows = flat(3) + [(11, 11.5, 10.5, 11.5), (11.5, 12, 11, 12), (12, 12.6, 11.5, 12.6)]
    rows += [(12, 12.4, 11.8, 12.0)]  # close 12.0 < upper 12.6 -> re-arm
    rows += [(12, 14, 12, 13.5)]  # upper 12.6 -> new run, new signal
    sigs = both_paths(BreakoutRule(3, "close", "up"), make_bars(rows))
    assert sigs == [(3, "up", 11.0, 11.5), (7, "up", 12.6, 13.5)]


def test_both_directions_on_one_bar_up_first():
    bars = make_bars(flat(3) + [(10, 12, 8, 10)])  # outside bar breaks both edges intrabar
    assert both_paths(BreakoutRule(3, "high", "both"), bars) == [(3, "up", 11.0, 11.0), (3, "down", 9.0, 9.0)]
    _det, sigs = feed(BreakoutRule(3, "high", "both"), bars)
    assert [s.direction for s in sigs] == ["up", "down"]
    assert all(isinstance(s, Signal) for s in sigs)


def test_directions_arm_independently():
    # up fires and stays disarmed across a down breakout; down's run is unaffected by up's state
    rows = flat(3) + [(10, 12, 10, 11.5), (11, 11.6, 11, 11.55), (11, 11.5, 7, 7.5), (8, 12, 7.5, 11.8)]
    sigs = both_paths(BreakoutRule(3, "close", "both"), make_bars(rows))
    # bar 4 close 11.55 <= upper 12 re-arms up; bar 5 breaks down; bar 6 close 11.8 < upper 12 -> nothing
    assert sigs == [(3, "up", 11.0, 11.5), (5, "down", 9.0, 7.5)]


def test_volume_filter_fires_later_in_the_same_run():
    rows = flat(3, volume=100) + [(11, 12, 11, 11.5, 150), (11.5, 12.5, 11, 12, 400)]
    # bar 3: 150 < 2 x mean 100 -> stays armed; bar 4 closes on its channel (12 == 12) -> run over, re-armed
    assert both_paths(BreakoutRule(3, "close", "up", 2.0), make_bars(rows)) == []
    # bar 4 still above its channel (12.3 > 12), 400 >= 2 x mean(100, 100, 150): fires later in the same run
    sigs = both_paths(BreakoutRule(3, "close", "up", 2.0), make_bars(rows[:4] + [(11.5, 12.5, 11, 12.3, 400)]))
    assert sigs == [(4, "up", 12.0, 12.3)]
    # exactly at the threshold passes (>=): 300 == 3 x mean 100; 299 fails
    rows2 = flat(3, volume=100) + [(11, 11.2, 11, 11.1, 300)]
    assert both_paths(BreakoutRule(3, "close", "up", 3.0), make_bars(rows2)) == [(3, "up", 11.0, 11.1)]
    rows3 = flat(3, volume=100) + [(11, 11.2, 11, 11.1, 299)]
    assert both_paths(BreakoutRule(3, "close", "up", 3.0), make_bars(rows3)) == []


def test_nan_and_negative_volume_are_missing():
    nan = float("nan")
    # NaN counts as 0 in the window: window (nan, 100, 100) sums to 200, 2x mean = 133.3 -> 150 passes
    rows = [(10, 11, 9, 10, nan)] + flat(2, volume=100) + [(11, 11.6, 11, 11.5, 150)]
    assert both_paths(BreakoutRule(3, "close", "up", 2.0), make_bars(rows)) == [(3, "up", 11.0, 11.5)]
    # negative volume (IB's -1 = none) behaves the same
    rows = [(10, 11, 9, 10, -1)] + flat(2, volume=100) + [(11, 11.6, 11, 11.5, 150)]
    assert both_paths(BreakoutRule(3, "close", "up", 2.0), make_bars(rows)) == [(3, "up", 11.0, 11.5)]
    # a NaN volume on the breakout bar fails the filter (but not when the filter is off)
    rows = flat(3, volume=100) + [(11, 11.6, 11, 11.5, nan)]
    assert both_paths(BreakoutRule(3, "close", "up", 0.5), make_bars(rows)) == []
    assert both_paths(BreakoutRule(3, "close", "up"), make_bars(rows)) == [(3, "up", 11.0, 11.5)]


def test_zero_volume():
    # an all-zero window: any volume >= 0 passes (0 >= k * 0)
    rows = flat(3, volume=0) + [(11, 11.6, 11, 11.5, 0)]
    assert both_paths(BreakoutRule(3, "close", "up", 2.0), make_bars(rows)) == [(3, "up", 11.0, 11.5)]
    # zero volume against a normal window fails
    rows = flat(3, volume=100) + [(11, 11.6, 11, 11.5, 0)]
    assert both_paths(BreakoutRule(3, "close", "up", 0.1), make_bars(rows)) == []


@pytest.mark.parametrize("dt, word", [(timedelta(0), "duplicate"), (timedelta(minutes=-1), "out-of-order")])
def test_unsorted_or_duplicate_times_rejected(dt, word):
    det = BreakoutDetector(BreakoutRule(3))
    bars = make_bars(flat(3))
    for b in bars:
        det.update(b)
    bad = Bar(bars[-1].time + dt, 10, 11, 9, 10, 100)
    with pytest.raises(ValueError, match=word):
        det.update(bad)
    # the rejected bar left no trace: the next good bar is accepted as bar 3
    assert det.bars_seen == 3
    assert det.update(Bar(bars[-1].time + timedelta(minutes=1), 11, 12, 11, 11.5, 100))[0].price == 11.5
    df = frame(bars + [bad])
    with pytest.raises(ValueError, match=word):
        scan(df, BreakoutRule(3))
    with pytest.raises(ValueError, match=word):
        bars_from_df(df)


def test_bad_prices_rejected():
    det = BreakoutDetector(BreakoutRule(3))
    with pytest.raises(ValueError, match="NaN"):
        det.update(Bar(T0, float("nan"), 11, 9, 10, 100))
    with pytest.raises(ValueError, match="high >= low"):
        det.update(Bar(T0, 10, 9, 11, 10, 100))
    with pytest.raises(ValueError, match="high >= low"):
        det.update_values(T0, 10, 11, float("nan"), 10, 100)
    assert det.bars_seen == 0
    bars = make_bars(flat(4))
    df = frame(bars)
    df.iloc[2, df.columns.get_loc("close")] = np.nan
    with pytest.raises(ValueError, match="row 2"):
        scan(df, BreakoutRule(3))


def test_memory_is_bounded_by_lookback():
    rng = np.random.default_rng(1)
    det = BreakoutDetector(BreakoutRule(7, "high", "both", 1.0))
    c = 100 + np.cumsum(rng.normal(0, 1, 5000))
    for j, x in enumerate(c.tolist()):
        det.update_values(j, x, x + 0.5, x - 0.5, x, 100 + j % 13)
        assert len(det._maxq) <= 7 and len(det._minq) <= 7 and len(det._cum) <= 8
    # worst case for a max deque: a steadily falling series keeps every entry
    det = BreakoutDetector(BreakoutRule(7))
    for j in range(100):
        det.update_values(j, 100 - j, 101 - j, 99 - j, 100 - j, 1)
        assert len(det._maxq) <= 7
    assert det.bars_seen == 100


def test_decimal_volume_accepted():
    from decimal import Decimal

    det = BreakoutDetector(BreakoutRule(2, min_rel_volume=1.0))
    bars = make_bars(flat(2) + [(11, 11.6, 11, 11.5)])
    sigs = [s for b in bars for s in det.update(Bar(b.time, b.open, b.high, b.low, b.close, Decimal("100.5")))]
    assert [(s.direction, s.price) for s in sigs] == [("up", 11.5)]


def test_update_values_equals_update():
    bars = SMALL_BARS
    rule = BreakoutRule(3, "high", "both", 1.5)
    a, b = BreakoutDetector(rule), BreakoutDetector(rule)
    for bar in bars:
        assert a.update(bar) == b.update_values(bar.time, bar.open, bar.high, bar.low, bar.close, bar.volume)
        assert a.channel == b.channel


# ------------------------------------------------------------------------------------------------- DataFrame input

def test_bars_from_df_accepts_index_time_and_date_columns():
    by_index = bars_from_df(SMALL.set_index(pd.to_datetime(SMALL["time"])).drop(columns="time"))
    by_time = bars_from_df(SMALL)
    by_date = bars_from_df(SMALL.rename(columns={"time": "date"}))
    assert by_index == by_time == by_date == SMALL_BARS
    assert len(SMALL_BARS) == 10
    assert SMALL_BARS[4] == Bar(pd.Timestamp("2026-11-23T14:34:00+00:00"), 12.0, 14.0, 12.0, 13.5, 300.0)
    assert SMALL_BARS[0].time.tzinfo is not None


def test_ib_insync_util_df_shape_works_as_is():
    """util.df(bars) gives a 'date' column of aware datetimes plus extra columns (average, barCount)."""
    rows = [{"date": b.time.to_pydatetime(), "open": b.open, "high": b.high, "low": b.low, "close": b.close,
                 "volume": b.volume, "average": b.close, "barCount": 5} for b in SMALL_BARS]
    df = pd.DataFrame(rows)
    rule = BreakoutRule(3, "high", "both")
    assert as_tuples(scan(df, rule), SMALL_BARS) == EXPECTED_HIGH
    assert bars_from_df(df) == SMALL_BARS


def test_scan_errors_and_empty_results():
    with pytest.raises(ValueError, match="missing column"):
        scan(SMALL.drop(columns="volume"), BreakoutRule(3))
    with pytest.raises(ValueError, match="DatetimeIndex"):
        scan(SMALL.drop(columns="time"), BreakoutRule(3))
    with pytest.raises(TypeError):
        scan([1, 2, 3], BreakoutRule(3))
    for df in (SMALL.iloc[:0], SMALL.iloc[:3], SMALL.iloc[:1]):
        out = scan(df, BreakoutRule(3))
        assert list(out.columns) == ["time", "direction", "level", "price"]
        assert out.empty


def test_scan_default_rule_and_dtypes():
    out = scan(SMALL, BreakoutRule(3, "high", "both"))
    assert out["time"].dt.tz is not None
    assert out["level"].dtype == np.float64 and out["price"].dtype == np.float64
    assert set(out["direction"]) == {"up", "down"}
    assert scan(SMALL).empty  # default lookback 20 > 10 bars
