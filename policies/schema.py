"""The policy data as read from ``registers/<code>.toml``: a register's numbers live in its file
so it can change its criteria without a code change, and these models refuse a file that does
not add up when it is loaded rather than when a case reads it. Rule numbers (R1 ...) refer to
DESIGN.md."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from dateutil.relativedelta import relativedelta
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from domain.formatting import format_date
from policies.evidence import BotDayAttendance, Frozen
from policies.texts import NOTE_BOT_FEWER_HELD, NOTE_BOT_OUTSIDE, NOTE_BOT_UNKNOWN


class PolicyError(Exception):
    """A register policy is unknown, invalid, or lacks data a caller asked for.

    ``file`` and ``field`` name where a load failed, so an operator can fix the TOML.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        super().__init__(message)
        self.file = file
        self.field = field


PositiveDecimal = Annotated[Decimal, Field(gt=0)]


class PeriodException(Frozen):
    """A different period length for registrations started in a date range (KWOT, R17)."""

    registered_from: date
    registered_until: date
    years: int = Field(gt=0)
    reason: str

    @model_validator(mode="after")
    def _range_in_order(self) -> PeriodException:
        if self.registered_until < self.registered_from:
            raise PydanticCustomError("date_order", "registered_until ligt voor registered_from")
        return self


class PeriodRules(Frozen):
    years: int = Field(gt=0)
    submission_grace_months: int = Field(ge=0)
    evidence_years: int = Field(gt=0)
    exceptions: tuple[PeriodException, ...] = ()

    @model_validator(mode="after")
    def _exceptions_disjoint(self) -> PeriodRules:
        ranges = sorted((e.registered_from, e.registered_until) for e in self.exceptions)
        for (_, prev_until), (next_from, _) in zip(ranges, ranges[1:], strict=False):
            if next_from <= prev_until:
                raise PydanticCustomError("overlap", "uitzonderingen op de periode overlappen")
        return self

    def years_for(self, start: date) -> int:
        for exception in self.exceptions:
            if exception.registered_from <= start <= exception.registered_until:
                return exception.years
        return self.years


class Offset(Frozen):
    """A distance on the calendar, e.g. 6 months or 6 weeks before a period ends."""

    months: int = Field(default=0, ge=0)
    weeks: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _not_zero(self) -> Offset:
        if not (self.months or self.weeks or self.days):
            raise PydanticCustomError("zero", "een herinnering heeft maanden, weken of dagen nodig")
        return self

    @property
    def delta(self) -> relativedelta:
        return relativedelta(months=self.months, weeks=self.weeks, days=self.days)

    @property
    def label(self) -> str:
        """Stable name in notice keys: "6m", "6w", "1m2w"."""
        return "".join(f"{n}{unit}" for n, unit in
                       ((self.months, "m"), (self.weeks, "w"), (self.days, "d")) if n)


class CalendarRules(Frozen):
    """What the register's calendar sends: reminders before a period ends, a mail the day after
    it ends (the submission window of R2 runs), and one on the day of the lapse (R4)."""

    reminders_before_end: tuple[Offset, ...] = (Offset(months=6), Offset(weeks=6))
    catch_up_days: int = Field(default=14, ge=0, description="a notice is sent this many days "
                               "late at most (a sweep that was down); older ones are stale")


class Fees(Frozen):
    intake_member: Decimal | None = Field(default=None, ge=0)
    intake_non_member: Decimal | None = Field(default=None, ge=0)
    reregistration: Decimal | None = Field(default=None, ge=0)
    credit_on_withdrawal: bool = Field(
        default=False, description="a paid re-registration closed before the review starts "
        "(withdrawn, or expired waiting for the practitioner) gets a credit note")

    @model_validator(mode="after")
    def _intake_complete(self) -> Fees:
        if (self.intake_member is None) != (self.intake_non_member is None):
            raise PydanticCustomError(
                "incomplete", "intake_member en intake_non_member horen samen")
        return self


class Billing(Frozen):
    """How the register invoices (KWOT, R18)."""

    period_years: int = Field(gt=0)
    on_request_months: int = Field(gt=0)
    non_accredited_handling_weeks: int = Field(gt=0)


class Criteria(Frozen):
    """Minimum numbers over the evidence window; ``None`` means not a criterion here."""

    points_total: PositiveDecimal
    points_course: Decimal | None = Field(default=None, ge=0)
    points_other: Decimal | None = Field(default=None, ge=0)
    points_accredited: Decimal | None = Field(default=None, ge=0)
    hours_total: Decimal | None = Field(default=None, ge=0)
    months_with_hours: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _minima_fit_total(self) -> Criteria:
        by_category = (self.points_course or Decimal(0)) + (self.points_other or Decimal(0))
        if by_category > self.points_total:
            raise PydanticCustomError(
                "too_high", "points_course + points_other is meer dan points_total")
        if (self.points_accredited or Decimal(0)) > self.points_total:
            raise PydanticCustomError("too_high", "points_accredited is meer dan points_total")
        return self


class BotSession(Frozen):
    """A held BOT day: the original of an edition, or its repeat (which counts as it)."""

    edition: int
    held_on: date
    repeat: bool = False


class BotDayRule(Frozen):
    """R15: ``required`` of ``out_of`` annual BOT days, with the calendar of days held."""

    required: int = Field(default=4, gt=0)
    out_of: int = Field(default=5, gt=0)
    calendar_note: str | None = None
    sessions: tuple[BotSession, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _calendar_consistent(self) -> BotDayRule:
        if self.required > self.out_of:
            raise PydanticCustomError("too_high", "required is meer dan out_of")
        dates = [s.held_on for s in self.sessions]
        if len(set(dates)) != len(dates):
            raise PydanticCustomError("duplicate", "twee sessies op dezelfde datum")
        originals: dict[int, date] = {}
        for session in self.sessions:
            if session.repeat:
                continue
            if session.edition in originals:
                raise PydanticCustomError(
                    "duplicate", f"editie {session.edition} heeft twee originele dagen")
            if session.held_on.year != session.edition:
                raise PydanticCustomError(
                    "mismatch", f"editie {session.edition} gehouden in ander jaar")
            originals[session.edition] = session.held_on
        for session in self.sessions:
            if not session.repeat:
                continue
            original = originals.get(session.edition)
            if original is None:
                raise PydanticCustomError(
                    "orphan", f"herhaling van editie {session.edition} zonder origineel")
            if session.held_on <= original:
                raise PydanticCustomError(
                    "date_order", f"herhaling van editie {session.edition} voor origineel")
        return self

    def tally(
        self, attendance: list[BotDayAttendance], window: tuple[date, date], notes: list[str]
    ) -> tuple[int, int, int]:
        """Editions held in the window, editions attended in it, and the number required."""
        start, end = window
        by_date = {s.held_on: s for s in self.sessions}
        held = {s.edition for s in self.sessions if start <= s.held_on <= end}
        attended: set[int] = set()
        for visit in attendance:
            session = by_date.get(visit.on)
            if session is None:
                notes.append(NOTE_BOT_UNKNOWN.format(on=format_date(visit.on)))
            elif not start <= visit.on <= end:
                notes.append(
                    NOTE_BOT_OUTSIDE.format(
                        on=format_date(visit.on), start=format_date(start), end=format_date(end)
                    )
                )
            else:
                attended.add(session.edition)
        allowed_missed = self.out_of - self.required
        if len(held) >= self.out_of:
            required = self.required
        else:
            # Our reading (DESIGN.md): fewer editions held -> all but the allowed misses.
            required = max(len(held) - allowed_missed, 0)
            notes.append(
                NOTE_BOT_FEWER_HELD.format(
                    held=len(held),
                    out_of=self.out_of,
                    allowed_missed=allowed_missed,
                    required=required,
                )
            )
        return len(held), len(attended), required
