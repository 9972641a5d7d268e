"""One register's policy and what follows from it: the dates of its calendar and the count of
the evidence against its criteria. Rule numbers (R1 ...) refer to DESIGN.md. All date arithmetic
goes through ``relativedelta`` so month ends clamp (31 Dec + 2 months = end of February,
29 Feb + 5 years = 28 Feb)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from dateutil.relativedelta import relativedelta
from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from domain.formatting import format_date, format_number
from policies.evidence import Activity, Evidence, Shortfall, Verdict, WorkHours
from policies.schema import (
    Billing,
    BotDayRule,
    CalendarRules,
    Criteria,
    Fees,
    PeriodRules,
    PolicyError,
)
from policies.texts import (
    CRITERIA_NOTE,
    ERR_NO_FEE,
    ERR_NO_INTAKE,
    LABELS,
    NOTE_ACTIVITY_OUTSIDE,
    NOTE_HOURS_OUTSIDE,
    NOTE_HOURS_PRO_RATA,
)

_CENT = Decimal("0.01")


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class RegisterPolicy:
    """The rules of one register. A pydantic dataclass rather than a BaseModel because the
    field ``register`` would shadow ``BaseModel.register``."""

    code: str
    name: str
    register: str
    is_specialisation: bool
    period: PeriodRules
    criteria: Criteria
    criteria_from: str | None = None
    fees: Fees = Field(default_factory=Fees)
    calendar: CalendarRules = Field(default_factory=CalendarRules)
    billing: Billing | None = None
    bot_days: BotDayRule | None = None

    # R1, R17
    def period_end(self, start: date) -> date:
        """Last day (inclusive) of a period starting on ``start``, the registration date."""
        return start + relativedelta(years=self.period.years_for(start)) - timedelta(days=1)

    # R2
    def submission_deadline(self, period_end: date) -> date:
        """Last day (inclusive) on which the dossier can still be submitted."""
        return period_end + relativedelta(months=self.period.submission_grace_months)

    # R4
    def is_lapsed(self, period_end: date, today: date) -> bool:
        return today > self.submission_deadline(period_end)

    # R1, R2, R4: the register's calendar
    def notices(self, period_end: date) -> list[tuple[str, date]]:
        """The calendar's mails about a period ending on `period_end`, in date order: each
        reminder, "window" the day after the end, "lapse" the day after the window (W + 1)."""
        reminders = sorted(((f"reminder-{o.label}", period_end - o.delta)
                            for o in self.calendar.reminders_before_end), key=lambda n: n[1])
        return [*reminders, ("window", period_end + timedelta(days=1)),
                ("lapse", self.submission_deadline(period_end) + timedelta(days=1))]

    def period_ends_due(self, kind: str, today: date) -> tuple[date, date] | None:
        """The period ends (first, last) whose notice `kind` is to be sent on `today`: due by
        today, at most `catch_up_days` late, and not yet overtaken by the next notice (a
        reminder the day the period has already ended helps nobody). Lets the sweep select
        them by date range instead of reading every registration."""
        kinds = [k for k, _ in self.notices(today)]
        at = kinds.index(kind)
        first = self._first_end(at, today - timedelta(days=self.calendar.catch_up_days + 1))
        if at + 1 < len(kinds):
            first = max(first, self._first_end(at + 1, today))
        last = self._first_end(at, today) - timedelta(days=1)
        return (first, last) if first <= last else None

    def lapsed_through(self, today: date) -> date:
        """R4 as a date range: periods ending on or before this date are lapsed on `today`."""
        return self._first_end(len(self.notices(today)) - 1, today) - timedelta(days=1)

    def _first_end(self, position: int, after: date) -> date:
        """The smallest period end whose notice at `position` falls after `after`. Notices move
        forward with the period end (month ends clamping, so not one to one): a binary search."""
        low, high = after.toordinal() - 40 * 366, after.toordinal() + 40 * 366
        while low < high:
            middle = (low + high) // 2
            if self.notices(date.fromordinal(middle))[position][1] > after:
                high = middle
            else:
                low = middle + 1
        return date.fromordinal(low)

    # R6
    def evidence_window(self, request_date: date) -> tuple[date, date]:
        """Dates whose activities and hours count, both ends inclusive."""
        return request_date - relativedelta(years=self.period.evidence_years), request_date

    # R12
    def new_period(self, submitted_on: date) -> tuple[date, date]:
        """A re-registration starts on the submission date; it does not join the old period."""
        end = submitted_on + relativedelta(years=self.period.years) - timedelta(days=1)
        return submitted_on, end

    # R7
    def intake_fee(self, member: bool) -> Decimal:
        fee = self.fees.intake_member if member else self.fees.intake_non_member
        if fee is None:
            raise PolicyError(ERR_NO_INTAKE.format(code=self.code))
        return fee

    @property
    def reregistration_fee(self) -> Decimal:
        """Raises ``PolicyError`` where the register has not configured an amount, so that no
        invoice goes out with a guessed one."""
        if self.fees.reregistration is None:
            raise PolicyError(ERR_NO_FEE.format(code=self.code))
        return self.fees.reregistration

    @property
    def criteria_note(self) -> str | None:
        if self.criteria_from is None:
            return None
        return CRITERIA_NOTE.format(source=self.criteria_from)

    @property
    def billing_period_years(self) -> int | None:
        return self.billing.period_years if self.billing else None

    @property
    def billing_on_request_months(self) -> int | None:
        return self.billing.on_request_months if self.billing else None

    @property
    def non_accredited_handling_weeks(self) -> int | None:
        return self.billing.non_accredited_handling_weeks if self.billing else None

    def assess(self, evidence: Evidence, request_date: date) -> Verdict:
        """Count points and hours inside the evidence window (R6) and, for BOT, the BOT days
        (R15). No judgement of content: that is the reviewer's (R11)."""
        window = self.evidence_window(request_date)
        notes: list[str] = []
        if self.criteria_note is not None:
            notes.append(self.criteria_note)
        by_category = _count_points(evidence.activities, window, notes)
        points_total = by_category["course"] + by_category["other"]
        hours_total, months = _count_hours(evidence.work_hours, window, notes)

        c = self.criteria
        checks: list[tuple[str, Decimal | int | None, Decimal]] = [
            ("points_total", c.points_total, points_total),
            ("points_course", c.points_course, by_category["course"]),
            ("points_other", c.points_other, by_category["other"]),
            ("points_accredited", c.points_accredited, by_category["accredited"]),
            ("hours_total", c.hours_total, hours_total),
            ("months_with_hours", c.months_with_hours, Decimal(months)),
        ]
        bot: tuple[int, int, int] | None = None
        if self.bot_days is not None:
            if self.bot_days.calendar_note:
                notes.append(self.bot_days.calendar_note)
            bot = self.bot_days.tally(evidence.bot_days, window, notes)
            checks.append(("bot_days", bot[2], Decimal(bot[1])))

        shortfalls = [
            Shortfall(code=code, label=LABELS[code], required=Decimal(required), actual=actual)
            for code, required, actual in checks
            if required is not None and actual < required
        ]
        return Verdict(
            sufficient=not shortfalls,
            window=window,
            points_total=points_total,
            points_by_category=by_category,
            hours_total=hours_total,
            months_with_hours=months,
            bot_days_held=bot[0] if bot else None,
            bot_days_attended=bot[1] if bot else None,
            bot_days_required=bot[2] if bot else None,
            shortfalls=shortfalls,
            notes=notes,
        )


def _count_points(
    activities: list[Activity], window: tuple[date, date], notes: list[str]
) -> dict[str, Decimal]:
    start, end = window
    totals = {"course": Decimal(0), "other": Decimal(0), "accredited": Decimal(0)}
    for activity in activities:
        if not start <= activity.on <= end:
            title = f"'{activity.title}' " if activity.title else ""
            notes.append(
                NOTE_ACTIVITY_OUTSIDE.format(
                    title=title,
                    on=format_date(activity.on),
                    start=format_date(start),
                    end=format_date(end),
                )
            )
            continue
        totals[activity.category] += activity.points
        if activity.accredited:
            totals["accredited"] += activity.points
    return totals


def _count_hours(
    entries: list[WorkHours], window: tuple[date, date], notes: list[str]
) -> tuple[Decimal, int]:
    """Pro-rata hours inside the window (see ``WorkHours``) and the distinct calendar months
    with any counted day. Summed as fractions so thirds add up to whole hours."""
    start, end = window
    total = Fraction(0)
    months: set[tuple[int, int]] = set()
    for entry in entries:
        first, last = max(entry.start, start), min(entry.end, end)
        description = f"'{entry.description}' " if entry.description else ""
        span = {
            "description": description,
            "first": format_date(entry.start),
            "last": format_date(entry.end),
        }
        if last < first:
            notes.append(
                NOTE_HOURS_OUTSIDE.format(**span, start=format_date(start), end=format_date(end))
            )
            continue
        days_in = (last - first).days + 1
        days_all = (entry.end - entry.start).days + 1
        share = Fraction(entry.hours) * days_in / days_all
        total += share
        if days_in < days_all:
            notes.append(
                NOTE_HOURS_PRO_RATA.format(
                    **span,
                    counted=format_number(_to_decimal(share)),
                    hours=format_number(entry.hours),
                )
            )
        month = date(first.year, first.month, 1)
        while month <= last:
            months.add((month.year, month.month))
            month += relativedelta(months=1)
    return _to_decimal(total), len(months)


def _to_decimal(value: Fraction) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(_CENT, rounding=ROUND_HALF_UP)
