"""core.calendar: NYSE sessions, holidays and early closes (exchange_calendars), and session counting."""

from datetime import date, time

import pytest

from breakout_kit.core import calendar


def test_holidays_and_early_closes():
    assert not calendar.is_session(date(2026, 11, 26))         # Thanksgiving
    assert not calendar.is_session(date(2026, 12, 25))
    assert not calendar.is_session(date(2026, 11, 28))         # a Saturday
    assert calendar.session_close(date(2026, 11, 27)) == time(13, 0)
    assert calendar.is_early_close(date(2026, 12, 24))
    assert calendar.session_close(date(2026, 11, 25)) == time(16, 0)
    assert calendar.session_close(date(2026, 11, 26)) is None
    assert calendar.session_close(date(2040, 1, 3)) == time(16, 0)   # beyond the table: weekdays


def test_counting_sessions():
    assert calendar.sessions_back(date(2026, 11, 30), 3) == date(2026, 11, 25)   # Mon, Fri, Wed
    assert calendar.sessions_back(date(2026, 11, 26), 1) == date(2026, 11, 25)   # a holiday counts back
    assert calendar.previous_session(date(2026, 11, 27)) == date(2026, 11, 25)
    assert calendar.next_session(date(2026, 11, 25)) == date(2026, 11, 27)
    assert len(calendar.sessions_in(date(2026, 1, 1), date(2026, 12, 31))) == 251
    with pytest.raises(ValueError):
        calendar.sessions_back(date(2026, 11, 30), 0)
