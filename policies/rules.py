"""Register policies: each register's rules as data, and the checks that read them.

The numbers of a register live in ``registers/<code>.toml`` so a register can change its criteria
without a code change; this module validates them at load and evaluates evidence against them.
Rule numbers (R1 ...) refer to DESIGN.md. All date arithmetic goes through ``relativedelta`` so
month ends clamp (31 Dec + 2 months = end of February, 29 Feb + 5 years = 28 Feb).
"""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Annotated, Literal

from dateutil.relativedelta import relativedelta
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

# --- User-facing texts (Dutch), in one place so tests and templates can refer to them. ---

LABELS: dict[str, str] = {
    "points_total": "Punten totaal",
    "points_course": "Punten cursussen",
    "points_other": "Punten overige activiteiten",
    "points_accredited": "Geaccrediteerde punten",
    "hours_total": "Uren werkervaring",
    "months_with_hours": "Maanden met werkervaring",
    "bot_days": "BOT-dagen gevolgd",
}
SHORTFALL_MESSAGE = "{label}: {required} vereist, {actual} behaald ({missing} tekort)"
CRITERIA_NOTE = "Criteria van {source} gebruikt tot het register eigen criteria vaststelt"
NOTE_ACTIVITY_OUTSIDE = (
    "Activiteit {title}van {on} valt buiten de periode {start} t/m {end} en telt niet mee."
)
NOTE_HOURS_OUTSIDE = (
    "Werkervaring {description}({first} t/m {last}) valt buiten de periode {start} t/m {end} "
    "en telt niet mee."
)
NOTE_HOURS_PRO_RATA = (
    "Werkervaring {description}({first} t/m {last}) valt deels buiten de periode: "
    "{counted} van {hours} uur naar rato meegeteld."
)
NOTE_BOT_UNKNOWN = "BOT-dag van {on} komt niet voor in de BOT-dagkalender en telt niet mee."
NOTE_BOT_OUTSIDE = "BOT-dag van {on} valt buiten de periode {start} t/m {end} en telt niet mee."
NOTE_BOT_FEWER_HELD = (
    "In de periode zijn {held} BOT-dagen gehouden (minder dan {out_of}); vereist zijn alle "
    "gehouden dagen op {allowed_missed} na: {required}."
)
ERR_UNKNOWN_CODE = "Onbekend register '{code}'. Bekende registers: {known}."
ERR_INVALID_FILE = "Registerbeleid {file} is ongeldig: {details}"
ERR_FIELD = "veld {field}: {message}"
ERR_NOT_TOML = "Registerbeleid {file} is geen geldige TOML: {message}"
ERR_CODE_MISMATCH = "Registerbeleid {file} bevat code '{code}'; verwacht '{expected}'."
ERR_CRITERIA_BOTH = "criteria en criteria_from sluiten elkaar uit"
ERR_CRITERIA_NONE = "criteria of criteria_from is verplicht"
ERR_CRITERIA_CHAIN = "criteria_from verwijst naar {source}, dat zelf geen eigen criteria heeft"
ERR_NO_INTAKE = "Register {code} kent geen startgesprek; er is geen tarief vastgelegd."
ERR_NO_FEE = "Voor register {code} is geen herregistratietarief vastgelegd."

ShortfallCode = Literal[
    "points_total",
    "points_course",
    "points_other",
    "points_accredited",
    "hours_total",
    "months_with_hours",
    "bot_days",
]

_CENT = Decimal("0.01")


class PolicyError(Exception):
    """A register policy is unknown, invalid, or lacks data a caller asked for.

    ``file`` and ``field`` name where a load failed, so an operator can fix the TOML.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        super().__init__(message)
        self.file = file
        self.field = field


def _nl_date(value: date) -> str:
    return value.strftime("%d-%m-%Y")


def _nl_number(value: Decimal) -> str:
    """Dutch notation (decimal comma), no trailing zeros: 80, 12,5."""
    text = format(value.quantize(_CENT, rounding=ROUND_HALF_UP).normalize(), "f")
    return text.replace(".", ",")


def _error(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


PositiveDecimal = Annotated[Decimal, Field(gt=0)]
# Evidence comes from people: bounded, so no number can overflow a page or a sum.
def _ascii_number(value: object) -> object:
    """Digits as written in Dutch forms: Python reads "١٠" (Arabic-Indic) as 10; we do not."""
    if isinstance(value, str) and not value.strip().isascii():
        raise _error("ascii_number", "gebruik de cijfers 0-9")
    return value


Points = Annotated[Decimal, BeforeValidator(_ascii_number),
                   Field(gt=0, le=1000, decimal_places=2, allow_inf_nan=False)]
Hours = Annotated[Decimal, BeforeValidator(_ascii_number),
                  Field(gt=0, le=100_000, decimal_places=2, allow_inf_nan=False)]

# --- Evidence: what the practitioner shows (totals only; no patient data). ---


class Activity(_Frozen):
    """One portfolio activity. ``accredited`` is orthogonal to the category: an accredited
    course counts towards both the course and the accredited minimum."""

    on: date
    points: Points
    category: Literal["course", "other"]
    accredited: bool = False
    title: str = Field("", max_length=200)


class WorkHours(_Frozen):
    """Work-experience hours over a date range, e.g. one line of a patient-record extract.

    Our reading of "hours over the past five years" (R6) for a range that crosses the window
    edge: the hours are spread evenly over the days of [start, end] and only the days inside
    the window count (pro rata). An entry wholly inside the window counts fully.
    """

    start: date
    end: date
    hours: Hours
    description: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _end_not_before_start(self) -> WorkHours:
        if self.end < self.start:
            raise _error("date_order", "einddatum ligt voor de begindatum")
        return self


class BotDayAttendance(_Frozen):
    """The date the practitioner attended a BOT day (the original day or its repeat)."""

    on: date


class Evidence(_Frozen):
    """Everything the association checks in R6 (and R15 for BOT)."""

    activities: list[Activity] = Field(default_factory=list, max_length=2000)
    work_hours: list[WorkHours] = Field(default_factory=list, max_length=2000)
    bot_days: list[BotDayAttendance] = Field(default_factory=list, max_length=100)


class Shortfall(_Frozen):
    """One criterion not met; the decline mail lists these (the case says what is short)."""

    code: str
    label: str
    required: Decimal
    actual: Decimal

    @property
    def missing(self) -> Decimal:
        return max(self.required - self.actual, Decimal(0))

    @property
    def message(self) -> str:
        return SHORTFALL_MESSAGE.format(
            label=self.label,
            required=_nl_number(self.required),
            actual=_nl_number(self.actual),
            missing=_nl_number(self.missing),
        )


class Verdict(_Frozen):
    """Outcome of the association's count (R6): sufficient, or what is short and why."""

    sufficient: bool
    window: tuple[date, date]
    points_total: Decimal
    points_by_category: dict[str, Decimal]
    hours_total: Decimal
    months_with_hours: int
    bot_days_held: int | None = None
    bot_days_attended: int | None = None
    bot_days_required: int | None = None
    shortfalls: list[Shortfall] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


# --- Policy data, as read from the TOML files. ---


class PeriodException(_Frozen):
    """A different period length for registrations started in a date range (KWOT, R17)."""

    registered_from: date
    registered_until: date
    years: int = Field(gt=0)
    reason: str

    @model_validator(mode="after")
    def _range_in_order(self) -> PeriodException:
        if self.registered_until < self.registered_from:
            raise _error("date_order", "registered_until ligt voor registered_from")
        return self


class PeriodRules(_Frozen):
    years: int = Field(gt=0)
    submission_grace_months: int = Field(ge=0)
    evidence_years: int = Field(gt=0)
    exceptions: tuple[PeriodException, ...] = ()

    @model_validator(mode="after")
    def _exceptions_disjoint(self) -> PeriodRules:
        ranges = sorted((e.registered_from, e.registered_until) for e in self.exceptions)
        for (_, prev_until), (next_from, _) in zip(ranges, ranges[1:], strict=False):
            if next_from <= prev_until:
                raise _error("overlap", "uitzonderingen op de periode overlappen")
        return self

    def years_for(self, start: date) -> int:
        for exception in self.exceptions:
            if exception.registered_from <= start <= exception.registered_until:
                return exception.years
        return self.years


class Offset(_Frozen):
    """A distance on the calendar, e.g. 6 months or 6 weeks before a period ends."""

    months: int = Field(default=0, ge=0)
    weeks: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _not_zero(self) -> Offset:
        if not (self.months or self.weeks or self.days):
            raise _error("zero", "een herinnering heeft maanden, weken of dagen nodig")
        return self

    @property
    def delta(self) -> relativedelta:
        return relativedelta(months=self.months, weeks=self.weeks, days=self.days)

    @property
    def label(self) -> str:
        """Stable name in notice keys: "6m", "6w", "1m2w"."""
        return "".join(f"{n}{unit}" for n, unit in
                       ((self.months, "m"), (self.weeks, "w"), (self.days, "d")) if n)


class CalendarRules(_Frozen):
    """What the register's calendar sends: reminders before a period ends, a mail the day after
    it ends (the submission window of R2 runs), and one on the day of the lapse (R4)."""

    reminders_before_end: tuple[Offset, ...] = (Offset(months=6), Offset(weeks=6))
    catch_up_days: int = Field(default=14, ge=0, description="a notice is sent this many days "
                               "late at most (a sweep that was down); older ones are stale")


class Fees(_Frozen):
    intake_member: Decimal | None = Field(default=None, ge=0)
    intake_non_member: Decimal | None = Field(default=None, ge=0)
    reregistration: Decimal | None = Field(default=None, ge=0)
    credit_on_withdrawal: bool = Field(
        default=False, description="a paid re-registration closed before the review starts "
        "(withdrawn, or expired waiting for the practitioner) gets a credit note")

    @model_validator(mode="after")
    def _intake_complete(self) -> Fees:
        if (self.intake_member is None) != (self.intake_non_member is None):
            raise _error("incomplete", "intake_member en intake_non_member horen samen")
        return self


class Billing(_Frozen):
    """How the register invoices (KWOT, R18)."""

    period_years: int = Field(gt=0)
    on_request_months: int = Field(gt=0)
    non_accredited_handling_weeks: int = Field(gt=0)


class Criteria(_Frozen):
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
            raise _error("too_high", "points_course + points_other is meer dan points_total")
        if (self.points_accredited or Decimal(0)) > self.points_total:
            raise _error("too_high", "points_accredited is meer dan points_total")
        return self


class BotSession(_Frozen):
    """A held BOT day: the original of an edition, or its repeat (which counts as it)."""

    edition: int
    held_on: date
    repeat: bool = False


class BotDayRule(_Frozen):
    """R15: ``required`` of ``out_of`` annual BOT days, with the calendar of days held."""

    required: int = Field(default=4, gt=0)
    out_of: int = Field(default=5, gt=0)
    calendar_note: str | None = None
    sessions: tuple[BotSession, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _calendar_consistent(self) -> BotDayRule:
        if self.required > self.out_of:
            raise _error("too_high", "required is meer dan out_of")
        dates = [s.held_on for s in self.sessions]
        if len(set(dates)) != len(dates):
            raise _error("duplicate", "twee sessies op dezelfde datum")
        originals: dict[int, date] = {}
        for session in self.sessions:
            if session.repeat:
                continue
            if session.edition in originals:
                raise _error("duplicate", f"editie {session.edition} heeft twee originele dagen")
            if session.held_on.year != session.edition:
                raise _error("mismatch", f"editie {session.edition} gehouden in ander jaar")
            originals[session.edition] = session.held_on
        for session in self.sessions:
            if not session.repeat:
                continue
            original = originals.get(session.edition)
            if original is None:
                raise _error("orphan", f"herhaling van editie {session.edition} zonder origineel")
            if session.held_on <= original:
                raise _error("date_order", f"herhaling van editie {session.edition} voor origineel")
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
                notes.append(NOTE_BOT_UNKNOWN.format(on=_nl_date(visit.on)))
            elif not start <= visit.on <= end:
                notes.append(
                    NOTE_BOT_OUTSIDE.format(
                        on=_nl_date(visit.on), start=_nl_date(start), end=_nl_date(end)
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
                    on=_nl_date(activity.on),
                    start=_nl_date(start),
                    end=_nl_date(end),
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
            "first": _nl_date(entry.start),
            "last": _nl_date(entry.end),
        }
        if last < first:
            notes.append(
                NOTE_HOURS_OUTSIDE.format(**span, start=_nl_date(start), end=_nl_date(end))
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
                    counted=_nl_number(_to_decimal(share)),
                    hours=_nl_number(entry.hours),
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


# --- Loading ---

_POLICY_ADAPTER: TypeAdapter[RegisterPolicy] = TypeAdapter(RegisterPolicy)


def _registers_dir() -> Traversable:
    return resources.files(__package__ or "policies").joinpath("registers")


def available_codes(directory: Traversable | None = None) -> tuple[str, ...]:
    """Register codes with a policy file, sorted."""
    folder = directory if directory is not None else _registers_dir()
    return tuple(
        sorted(
            item.name.removesuffix(".toml").upper()
            for item in folder.iterdir()
            if item.is_file() and item.name.endswith(".toml")
        )
    )


@cache
def specialisations() -> dict[str, str]:
    """Code -> Dutch name of each specialisation register (its policy file says it is one),
    in the order of their names: the choices wherever a specialisation is asked for."""
    policies = [load_policy(code) for code in available_codes()]
    return {p.code: p.name for p in sorted(policies, key=lambda p: p.name) if p.is_specialisation}


def load_policy(code: str, *, directory: Traversable | None = None) -> RegisterPolicy:
    """The policy of register ``code`` (case-insensitive); ``PolicyError`` if it is unknown
    or its file is invalid. ``directory`` replaces the packaged files (tests, a register's
    own configuration)."""
    folder = directory if directory is not None else _registers_dir()
    normalised = code.strip().upper()
    if not normalised.isalnum():
        known = ", ".join(available_codes(folder)) or "-"
        raise PolicyError(ERR_UNKNOWN_CODE.format(code=code, known=known))
    if directory is None:
        return _load_packaged(normalised)
    return _load(normalised, folder)


@cache
def _load_packaged(code: str) -> RegisterPolicy:
    # Policies are frozen, so handing out one shared instance per register is safe.
    return _load(code, _registers_dir())


def _load(code: str, folder: Traversable) -> RegisterPolicy:
    raw = _read_raw(code, folder)
    filename = _filename(code)
    source = raw.get("criteria_from")
    if source is not None and "criteria" in raw:
        raise PolicyError(
            ERR_INVALID_FILE.format(
                file=filename, details=ERR_FIELD.format(field="criteria", message=ERR_CRITERIA_BOTH)
            ),
            file=filename,
            field="criteria",
        )
    if isinstance(source, str):
        borrowed = _load(source.strip().upper(), folder)
        if borrowed.criteria_from is not None:
            raise PolicyError(
                ERR_INVALID_FILE.format(
                    file=filename,
                    details=ERR_FIELD.format(
                        field="criteria_from",
                        message=ERR_CRITERIA_CHAIN.format(source=borrowed.code),
                    ),
                ),
                file=filename,
                field="criteria_from",
            )
        raw = {**raw, "criteria_from": borrowed.code, "criteria": borrowed.criteria}
    elif source is None and "criteria" not in raw:
        raise PolicyError(
            ERR_INVALID_FILE.format(
                file=filename, details=ERR_FIELD.format(field="criteria", message=ERR_CRITERIA_NONE)
            ),
            file=filename,
            field="criteria",
        )
    try:
        policy = _POLICY_ADAPTER.validate_python(raw)
    except ValidationError as err:
        problems = err.errors(include_url=False)
        fields = [".".join(str(part) for part in p["loc"]) or "(bestand)" for p in problems]
        details = "; ".join(
            ERR_FIELD.format(field=field, message=p["msg"])
            for field, p in zip(fields, problems, strict=True)
        )
        raise PolicyError(
            ERR_INVALID_FILE.format(file=filename, details=details),
            file=filename,
            field=fields[0],
        ) from err
    if policy.code != code:
        raise PolicyError(
            ERR_CODE_MISMATCH.format(file=filename, code=policy.code, expected=code),
            file=filename,
            field="code",
        )
    return policy


def _filename(code: str) -> str:
    return f"{code.lower()}.toml"


def _read_raw(code: str, folder: Traversable) -> dict[str, object]:
    filename = _filename(code)
    item = folder.joinpath(filename)
    if not item.is_file():
        known = ", ".join(available_codes(folder)) or "-"
        raise PolicyError(ERR_UNKNOWN_CODE.format(code=code, known=known), file=filename)
    try:
        return tomllib.loads(item.read_text(encoding="utf-8"), parse_float=Decimal)
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(ERR_NOT_TOML.format(file=filename, message=err), file=filename) from err
