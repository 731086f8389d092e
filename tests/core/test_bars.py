"""IB's bar-size and duration vocabulary (core/bars.py): both spellings, every size, one message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from breakout_kit.core import bars


@pytest.mark.parametrize("text,ib", [
    ("1s", "1 secs"), ("1 secs", "1 secs"), ("1 sec", "1 secs"), ("30S", "30 secs"), ("1m", "1 min"),
    ("1 min", "1 min"), ("5m", "5 mins"), ("5 min", "5 mins"), ("5 mins", "5 mins"), ("5mins", "5 mins"),
    ("1h", "1 hour"), ("2h", "2 hours"), ("8 hours", "8 hours"), ("1d", "1 day"), ("1 day", "1 day"),
    ("1w", "1 week"), ("1 week", "1 week"), ("1mo", "1 month"), ("1 month", "1 month"),
])
def test_both_spellings_give_ibs(text, ib):
    assert bars.bar_size(text) == ib


def test_every_ib_size_round_trips_in_time_order():
    assert len(bars.BAR_SIZES) == 21 and bars.BAR_SIZES[0] == "1 secs" and bars.BAR_SIZES[-1] == "1 month"
    seconds = [bars.bar_seconds(s) for s in bars.BAR_SIZES]
    assert seconds == sorted(seconds) and len(set(seconds)) == len(seconds)
    assert all(bars.bar_size(s) == s for s in bars.BAR_SIZES)


@pytest.mark.parametrize("bad", ["7m", "0m", "m", "1x", "", "1.5m", "60 mins", "2 days", "1 fortnight", None, 5])
def test_unknown_sizes_get_the_one_message(bad):
    with pytest.raises(ValueError) as err:
        bars.bar_size(bad)
    text = str(err.value)
    assert "\n" not in text and f"bar size {bad!r} is not an IB bar size" in text
    assert "1s, 5s, 10s, 15s, 30s, 1m, 2m, 3m, 5m, 10m, 15m, 20m, 30m, 1h, 2h, 3h, 4h, 8h, 1d, 1w, 1mo" in text


def test_live_sizes_are_whole_five_second_pieces_up_to_an_hour():
    assert bars.LIVE_BAR_SIZES[0] == "5 secs" and bars.LIVE_BAR_SIZES[-1] == "1 hour"
    assert bars.live_bar_size("5m") == "5 mins"
    for text in ("1s", "1 secs", "2h", "1d", "1w"):
        with pytest.raises(ValueError, match=r"cannot be watched live .* use one of 5s, 10s"):
            bars.live_bar_size(text)
    with pytest.raises(ValueError, match="is not an IB bar size"):
        bars.live_bar_size("7m")


@given(st.text(max_size=12))
def test_any_text_is_a_size_or_one_clear_error(text):
    try:
        size = bars.bar_size(text)
    except ValueError as e:
        assert "\n" not in str(e)
    else:
        assert size in bars.BAR_SIZES


def test_durations():
    assert bars.duration("5D") == "5 D" and bars.duration(" 2 w ") == "2 W" and bars.duration("3600 s") == "3600 S"
    assert bars.duration_seconds("2 W") == 14 * 86_400 and bars.parse_duration("1 y") == (1, "Y")
    for bad in ("0 D", "5 days", "D", "", None, "1.5 D"):
        with pytest.raises(ValueError, match="is not like 3600 S, 5 D"):
            bars.duration(bad)


def test_whole_numbers_turn_int_only_when_every_value_is_whole():
    import numpy as np
    import pandas as pd

    from breakout_kit.core.bars import whole_numbers

    assert whole_numbers(pd.Series([120100.0, 10.0])).tolist() == [120100, 10]
    assert whole_numbers(pd.Series([120100.0, 10.0])).dtype == np.int64  # shown as 120100, not 120100.0
    for kept in ([1.5, 2.0], [1.0, np.nan], []):  # fractional volume, a gap, nothing: stays float
        assert whole_numbers(pd.Series(kept, dtype=float)).dtype == np.float64
