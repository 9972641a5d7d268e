"""Due dates move off weekends and the holidays of the Algemene termijnenwet (no server)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.working_days import due_date, is_working_day, next_working_day


@pytest.mark.parametrize(("day", "moved_to"), [
    (date(2026, 11, 24), date(2026, 11, 24)),  # a Tuesday stays
    (date(2026, 11, 28), date(2026, 11, 30)),  # Saturday -> Monday
    (date(2026, 11, 29), date(2026, 11, 30)),  # Sunday -> Monday
    (date(2026, 12, 25), date(2026, 12, 28)),  # Christmas (Friday), Boxing Day, Sunday
    (date(2026, 12, 31), date(2026, 12, 31)),  # New Year's Eve is a working day
    (date(2027, 1, 1), date(2027, 1, 4)),  # New Year's Day (Friday)
    (date(2026, 4, 27), date(2026, 4, 28)),  # King's Day (Monday)
    (date(2027, 3, 29), date(2027, 3, 30)),  # Easter Monday
    (date(2027, 5, 5), date(2027, 5, 7)),  # 5 May, then Ascension Day
    (date(2027, 5, 17), date(2027, 5, 18)),  # Whit Monday
])
def test_a_day_off_moves_to_the_next_working_day(day: date, moved_to: date) -> None:
    assert next_working_day(day) == moved_to
    assert is_working_day(moved_to)


def test_good_friday_is_a_working_day_under_the_law_on_time_limits() -> None:
    assert is_working_day(date(2027, 3, 26))


def test_five_may_counts_every_year_not_only_every_fifth() -> None:
    assert not is_working_day(date(2026, 5, 5)) and not is_working_day(date(2028, 5, 5))


def test_a_due_date_is_counted_in_calendar_days_then_moved() -> None:
    assert due_date(date(2026, 12, 11), 14) == date(2026, 12, 28)
    assert due_date(date(2026, 12, 10), 14) == date(2026, 12, 24)
