"""What the practitioner shows (totals only; no patient data) and what the association's count
returns: the two sides of an assessment, kept apart from any one register's numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from domain.formatting import format_number
from policies.texts import SHORTFALL_MESSAGE


class Frozen(BaseModel):
    """Evidence, verdicts and policy data never change once read: frozen, and no stray fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _ascii_number(value: object) -> object:
    """Digits as written in Dutch forms: Python reads "١٠" (Arabic-Indic) as 10; we do not."""
    if isinstance(value, str) and not value.strip().isascii():
        raise PydanticCustomError("ascii_number", "gebruik de cijfers 0-9")
    return value


# Evidence comes from people: bounded, so no number can overflow a page or a sum.
Points = Annotated[Decimal, BeforeValidator(_ascii_number),
                   Field(gt=0, le=1000, decimal_places=2, allow_inf_nan=False)]
Hours = Annotated[Decimal, BeforeValidator(_ascii_number),
                  Field(gt=0, le=100_000, decimal_places=2, allow_inf_nan=False)]


class Activity(Frozen):
    """One portfolio activity. ``accredited`` is orthogonal to the category: an accredited
    course counts towards both the course and the accredited minimum."""

    on: date
    points: Points
    category: Literal["course", "other"]
    accredited: bool = False
    title: str = Field("", max_length=200)


class WorkHours(Frozen):
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
            raise PydanticCustomError("date_order", "einddatum ligt voor de begindatum")
        return self


class BotDayAttendance(Frozen):
    """The date the practitioner attended a BOT day (the original day or its repeat)."""

    on: date


class Evidence(Frozen):
    """Everything the association checks in R6 (and R15 for BOT)."""

    activities: list[Activity] = Field(default_factory=list, max_length=2000)
    work_hours: list[WorkHours] = Field(default_factory=list, max_length=2000)
    bot_days: list[BotDayAttendance] = Field(default_factory=list, max_length=100)


class Shortfall(Frozen):
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
            required=format_number(self.required),
            actual=format_number(self.actual),
            missing=format_number(self.missing),
        )


class Verdict(Frozen):
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
