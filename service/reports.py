"""Figures for the office: open cases per state and specialisation, how long each step takes
(from the moment a case waits for a person to their decision), cases past their due date, money
outstanding, and the re-registrations coming per month, forecast from the registrations'
period ends (a period ending in a month is a re-registration in that month). The same figures
feed the staff page and `herregistratie report` (CSV)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func
from sqlmodel import Session, col, select

from domain.formatting import format_date, format_euro, format_number
from domain.procedure import DECISIONS
from domain.states import CLOSED_STATES, CaseState
from models.case import Case, CaseEvent
from models.invoice import Invoice, InvoiceKind, InvoiceStatus
from models.practitioner import Practitioner
from models.registration import Registration, RegistrationStatus

MONTHS = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


@dataclass(frozen=True)
class OpenCount:
    state: CaseState
    specialisation: str
    count: int


@dataclass(frozen=True)
class CycleTime:
    action: str
    title: str
    count: int
    median_days: float
    p90_days: float


@dataclass(frozen=True)
class Overdue:
    number: str
    practitioner: str
    awaiting: str
    due_on: date
    days_late: int


@dataclass(frozen=True)
class Outstanding:
    kind: InvoiceKind
    count: int
    total: Decimal


@dataclass(frozen=True)
class ForecastMonth:
    month: date  # the first day of the month
    total: int
    by_register: dict[str, int]

    @property
    def label(self) -> str:
        return f"{MONTHS[self.month.month - 1]} {self.month.year}"


def open_cases(session: Session) -> list[OpenCount]:
    rows = session.exec(select(Case.state, Case.specialisation, func.count())
                        .where(col(Case.state).not_in(CLOSED_STATES))
                        .group_by(col(Case.state), col(Case.specialisation))).all()
    order = list(CaseState)
    return sorted((OpenCount(CaseState(state), code, count) for state, code, count in rows),
                  key=lambda c: (order.index(c.state), c.specialisation))


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def cycle_times(session: Session) -> list[CycleTime]:
    """Per awaited action: days from the pause opening to the person's decision."""
    opened: dict[tuple[int, str], tuple[str, datetime]] = {}
    decided: dict[tuple[int, str], datetime] = {}
    for case_id, key, action, at in session.exec(
            select(CaseEvent.case_id, CaseEvent.key, CaseEvent.action, CaseEvent.at)
            .where(col(CaseEvent.key).startswith("pause:")
                   | col(CaseEvent.key).startswith("decision:"))):
        kind, _, pause_key = key.partition(":")
        if kind == "pause":
            opened[(case_id, pause_key)] = (action.removeprefix("awaiting:"), at)
        else:
            decided[(case_id, pause_key)] = at
    durations: dict[str, list[float]] = defaultdict(list)
    for pause, (action, start) in opened.items():
        if pause in decided:
            durations[action].append(max(0.0, (decided[pause] - start).total_seconds() / 86400))
    return [CycleTime(action, DECISIONS[action].title if action in DECISIONS else action,
                      len(days), statistics.median(days), _quantile(sorted(days), 0.9))
            for action, days in sorted(durations.items(),
                                       key=lambda item: list(DECISIONS).index(item[0])
                                       if item[0] in DECISIONS else 99)]


def overdue(session: Session, today: date) -> list[Overdue]:
    rows = session.exec(select(Case, Practitioner)
                        .join(Practitioner, col(Practitioner.id) == Case.practitioner_id)
                        .where(col(Case.state).not_in(CLOSED_STATES),
                               col(Case.due_on) < today)
                        .order_by(col(Case.due_on)))
    return [Overdue(case.number, practitioner.name,
                    DECISIONS[case.awaiting_action].title
                    if case.awaiting_action in DECISIONS else "", case.due_on,
                    (today - case.due_on).days)
            for case, practitioner in rows if case.due_on is not None]


def outstanding(session: Session) -> list[Outstanding]:
    rows = session.exec(select(Invoice.kind, func.count(), func.sum(Invoice.amount))
                        .where(Invoice.status == InvoiceStatus.OPEN)
                        .group_by(col(Invoice.kind))).all()
    return [Outstanding(InvoiceKind(kind), count, Decimal(total or 0))
            for kind, count, total in rows]


def forecast(session: Session, first_month: date, months: int = 36) -> list[ForecastMonth]:
    """Re-registrations per month: current registrations whose period ends in that month."""
    start = first_month.replace(day=1)
    end = start + relativedelta(months=months)
    counts: dict[date, Counter[str]] = defaultdict(Counter)
    for period_end, code in session.exec(
            select(col(Registration.period_end), col(Registration.specialisation))
            .where(col(Registration.status) == RegistrationStatus.ACTIVE,
                   col(Registration.period_end) >= start, col(Registration.period_end) < end)):
        counts[period_end.replace(day=1)][code] += 1
    return [ForecastMonth(month, sum(counts[month].values()), dict(sorted(counts[month].items())))
            for month in (start + relativedelta(months=i) for i in range(months))]


def forecast_chart(months: list[ForecastMonth]) -> str:
    """The forecast as an SVG bar chart, drawn on the server (no JavaScript): a bar per month,
    its number on hover (title) and in the table beside it; years marked below."""
    width, height, left, bottom, top = 760, 260, 40, 40, 16
    peak = max((m.total for m in months), default=0) or 1
    step = (width - left - 10) / max(len(months), 1)
    bars, labels = [], []
    for i, month in enumerate(months):
        bar = (height - bottom - top) * month.total / peak
        x = left + i * step
        bars.append(f'<rect x="{x + 1:.1f}" y="{height - bottom - bar:.1f}" '
                    f'width="{max(step - 2, 1):.1f}" height="{bar:.1f}" fill="#005a7c">'
                    f"<title>{month.label}: {month.total}</title></rect>")
        # Years marked at January, and at the start unless a January follows soon (the two
        # labels would overlap).
        soon_january = any(m.month.month == 1 for m in months[1:4])
        if month.month.month == 1 or (i == 0 and not soon_january):
            labels.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" font-size="12">'
                          f"{month.month.year}</text>")
    axis = (f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" '
            f'y2="{height - bottom}" stroke="#555"/>'
            f'<text x="{left - 6}" y="{top + 4}" font-size="12" text-anchor="end">{peak}</text>'
            f'<text x="{left - 6}" y="{height - bottom}" font-size="12" text-anchor="end">0</text>')
    summary = (f"Verwachte herregistraties per maand, {months[0].label} tot en met "
               f"{months[-1].label}; hoogste aantal {peak}") if months else "Geen gegevens"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{summary}" style="max-width:100%;height:auto">'
            f"{axis}{''.join(bars)}{''.join(labels)}</svg>")


REPORTS = ("open", "doorlooptijd", "te-laat", "openstaand", "prognose")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet will not run: text that starts like a formula (a name such as
    `=HYPERLINK(...)`) is prefixed with a quote; numbers stay numbers."""
    if value.startswith(FORMULA_START) and not _number(value):
        return f"'{value}"
    return value


def _number(value: str) -> bool:
    try:
        float(value.replace(",", ".").replace("\u00a0", ""))
    except ValueError:
        return False
    return True


def write_csv(out: Any, header: list[str], rows: list[list[str]]) -> None:
    """`;`-separated, as Dutch spreadsheet programs read it, every cell neutralised."""
    import csv

    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow([csv_cell(cell) for cell in header])
    writer.writerows([[csv_cell(cell) for cell in row] for row in rows])
def kind_name(kind: InvoiceKind) -> str:
    return f"{kind.label} ({kind.issuer})"


def table(session: Session, report: str, today: date, first_month: date,
          months: int) -> tuple[list[str], list[list[str]]]:
    """One report as a header and rows of text, Dutch numbers (for the CSV and the command
    line; the page shows the same figures)."""
    def days(value: float) -> str:
        return format_number(Decimal(str(round(value, 1))))

    match report:
        case "open":
            return ["status", "specialisatie", "aantal"], [
                [row.state.label, row.specialisation, str(row.count)]
                for row in open_cases(session)]
        case "doorlooptijd":
            return ["stap", "aantal", "mediaan (dagen)", "p90 (dagen)"], [
                [row.title, str(row.count), days(row.median_days), days(row.p90_days)]
                for row in cycle_times(session)]
        case "te-laat":
            return ["aanvraag", "oefentherapeut", "wacht op", "uiterlijk", "dagen te laat"], [
                [row.number, row.practitioner, row.awaiting, format_date(row.due_on),
                 str(row.days_late)] for row in overdue(session, today)]
        case "openstaand":
            return ["soort", "facturen", "bedrag"], [
                [kind_name(row.kind), str(row.count), format_euro(row.total)]
                for row in outstanding(session)]
        case "prognose":
            months_found = forecast(session, first_month, months)
            codes = sorted({code for m in months_found for code in m.by_register})
            return ["maand", "totaal", *codes], [
                [m.label, str(m.total), *(str(m.by_register.get(c, 0)) for c in codes)]
                for m in months_found]
    raise ValueError(report)
