"""When a due date falls on a weekend or a public holiday, it moves to the next working day.

The days are those of the Algemene termijnenwet (art. 3), the Dutch law on time limits:
Saturdays, Sundays, New Year's Day, Easter Monday, Ascension Day, Whit Monday, both Christmas
days, King's Day and 5 May every year. The `holidays` package gives the movable feasts; its
Dutch calendar also has Good Friday (not a day off under that law) and 5 May only every five
years, so both are corrected here.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays

NOT_UNDER_THE_LAW = ("Goede vrijdag",)


@cache
def _holidays(year: int) -> frozenset[date]:
    found = holidays.country_holidays("NL", years=year, language="nl")
    days = {day for day, name in found.items() if name not in NOT_UNDER_THE_LAW}
    days.add(date(year, 5, 5))  # Bevrijdingsdag counts every year for time limits
    return frozenset(days)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def next_working_day(day: date) -> date:
    """`day` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def due_date(today: date, days: int) -> date:
    """`days` after `today`, moved to the next working day: what a pause waits until."""
    return next_working_day(today + timedelta(days=days))
