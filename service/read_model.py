"""The read model: what pages, API and CLI show of cases, so each audience sees the same facts
everywhere. `case_detail` is the case as staff see it (the API returns it, the staff case page
renders it), `status_view` what a practitioner may see (status page and the practitioner's API
link), `find_cases` the staff inbox and the API's list; the staff history is in history.py.

`case_progress` is the one rule for "being processed": a recorded decision the run has not
passed yet is *processing* for a short while, then *delayed* (the reconciler is on it), and a
case the reconciler gave up on is *stuck*, which staff see with its cause and the
practitioner as a plain delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, String, and_, exists, func, literal, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from domain import messages as m
from domain.decisions import Withdrawal
from domain.formatting import format_date, format_when, local_time
from domain.procedure import DECISIONS, EVIDENCE_STATES, PAUSE_BY_ACTION, STAGE
from domain.states import CLOSED_STATES, CaseState, Party, Role
from models.case import (
    Case,
    CaseEvent,
    EventKind,
    case_policy,
    case_verdict,
    find_case,
    history,
    list_cases,
)
from models.certificate import CertificatePublic, get_certificate
from models.db import read_session, utcnow
from models.decision import DecisionRecord, unconsumed
from models.invoice import Invoice, InvoiceKind, InvoicePublic, InvoiceStatus, case_invoices
from models.outbox import OutboxMail, case_mails
from models.practitioner import Practitioner, PractitionerPublic, get_by_kp_number
from models.review import Reviewer, ReviewPublic, case_reviews
from models.sweep import last_sweep
from policies import RegisterPolicy, Verdict
from settings import get_settings
from tasks.deadlines import ESCALATION


class Phase(StrEnum):
    WAITING = "waiting"  # for a person
    PROCESSING = "processing"
    DELAYED = "delayed"
    STUCK = "stuck"
    CLOSED = "closed"


@dataclass(frozen=True)
class Progress:
    phase: Phase
    staff_text: str | None = None
    public_text: str | None = None
    since: datetime | None = None


DELAYED_AFTER = timedelta(minutes=2)
PUBLIC_DELAYED = (
    "De verwerking van uw aanvraag duurt langer dan normaal. Wij lossen dit op; u hoeft niets "
    "te doen."
)
PUBLIC_RECEIVED = "Ontvangen; het wordt nu verwerkt."


@dataclass(frozen=True)
class SweepHealth:
    """When the sweep last finished, and whether that is longer ago than it should be."""

    last: datetime | None
    late: bool

    @property
    def staff_text(self) -> str:
        if self.last is None:
            return m.SWEEP_NEVER
        return (m.SWEEP_LATE if self.late else m.SWEEP_LAST).format(last=format_when(self.last))


def sweep_health(session: Session, now: datetime | None = None) -> SweepHealth:
    last = last_sweep(session=session)
    limit = timedelta(minutes=get_settings().repair.sweep_late_minutes)
    return SweepHealth(last, last is not None and (now or utcnow()) - last > limit)


def case_progress(session: Session, case: Case, now: datetime | None = None) -> Progress:
    """Waiting for a person; or a decision being processed, delayed (the sweep repairs it:
    said only while sweeps come), or stuck: marked by the reconciler, or waiting longer than
    `repair.stuck_after_minutes` for whatever reason, the sweep's absence included."""
    now = now or utcnow()
    if case.state.is_closed:
        return Progress(Phase.CLOSED)
    if case.stuck_reason is not None:
        return Progress(Phase.STUCK, case.stuck_reason, PUBLIC_DELAYED, case.stuck_since)
    pending = unconsumed(session=session, case_ids=[case.id or 0]).get(case.id or 0, [])
    waiting_for = [r.recorded_at for r in pending
                   if r.pause_key in (case.awaiting_key, Withdrawal.action)]
    if case.awaiting_key is not None and not waiting_for:
        return Progress(Phase.WAITING)
    since = min(waiting_for) if waiting_for else case.updated_at
    if now - since <= DELAYED_AFTER:
        return Progress(Phase.PROCESSING, m.RECEIVED_PENDING, PUBLIC_RECEIVED, since)
    health = sweep_health(session, now)
    late = m.SWEEP_LATE_CAUSE.format(last=format_when(health.last)) if health.late and health.last \
        else ""
    repair = get_settings().repair
    if now - since > timedelta(minutes=repair.stuck_after_minutes):
        return Progress(Phase.STUCK, m.WAITING_TOO_LONG.format(
            since=format_when(since), cause=late), PUBLIC_DELAYED, since)
    text = m.DELAYED_NO_SWEEP.format(last=format_when(health.last),
                                     minutes=repair.stuck_after_minutes) \
        if late and health.last else m.DELAYED
    return Progress(Phase.DELAYED, text, PUBLIC_DELAYED, since)


def waiting_too_long(now: datetime) -> ColumnElement[bool]:
    """SQL for `case_progress`'s stuck-by-waiting: a decision on the awaited pause (or a
    withdrawal) unprocessed for longer than the limit, or a case that reached no pause for as
    long. Cases marked by the reconciler are `Case.stuck_reason`."""
    cutoff = now - timedelta(minutes=get_settings().repair.stuck_after_minutes)
    unprocessed = exists().where(
        col(DecisionRecord.case_id) == Case.id, col(DecisionRecord.consumed_at).is_(None),
        col(DecisionRecord.recorded_at) < cutoff,
        or_(col(DecisionRecord.pause_key) == Case.awaiting_key,
            col(DecisionRecord.pause_key) == Withdrawal.action))
    return and_(col(Case.state).not_in(CLOSED_STATES), or_(
        unprocessed, and_(col(Case.awaiting_key).is_(None), col(Case.updated_at) < cutoff)))


def stuck_cases(session: Session, case_ids: list[int], now: datetime | None = None) -> set[int]:
    """Of these cases, those stuck either way (the inbox's mark)."""
    if not case_ids:
        return set()
    found = session.exec(select(Case.id).where(
        col(Case.id).in_(case_ids),
        or_(col(Case.stuck_reason).is_not(None), waiting_too_long(now or utcnow()))))
    return {case_id for case_id in found if case_id is not None}


@dataclass(frozen=True)
class EvidenceView:
    """The points-and-hours form's frame: the register's policy, whose case, the checks'
    verdict on what is stored, and whether it may still change (R6)."""

    policy: RegisterPolicy
    practitioner: Practitioner
    verdict: Verdict
    open: bool
    bot_days: bool  # only where the register asks for BOT days


def evidence_view(session: Session, case: Case) -> EvidenceView:
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    policy = case_policy(case)
    return EvidenceView(policy=policy, practitioner=practitioner, verdict=case_verdict(case),
                        open=case.state in EVIDENCE_STATES, bot_days=policy.bot_days is not None)


def cases_of(session: Session, kp_number: str) -> list[Case]:
    """The cases of the practitioner with this KP number, oldest first."""
    practitioner = get_by_kp_number(session=session, kp_number=kp_number)
    return [] if practitioner is None else list(session.exec(
        select(Case).where(Case.practitioner_id == practitioner.id).order_by(col(Case.id))))


def cases_in(session: Session, state: CaseState | None) -> list[Case]:
    """All cases, or those in one state, by number."""
    return list_cases(session=session, state=state)


def case_by_number(session: Session, number: str) -> Case:
    """The case with this number (CaseNotFound if there is none)."""
    return find_case(session=session, ref=number)


def current_state(number: str) -> CaseState:
    """The state a case is in now (CaseNotFound if there is none)."""
    with read_session() as session:
        return find_case(session=session, ref=number).state


def state_path(case: Case, events: list[CaseEvent]) -> list[CaseState]:
    """The states the case went through, in order, ending in its current one."""
    path = [CaseState.REQUESTED]
    path += [e.to_state for e in events if e.kind is EventKind.TRANSITION and e.to_state]
    return path if path[-1] is case.state else [*path, case.state]


def refresh_seconds(progress: Progress) -> int | None:
    """A page that shows a step being processed reloads itself (no JavaScript needed) until
    the step is done: seconds while it should be, less often once it is late."""
    return {Phase.PROCESSING: 3, Phase.DELAYED: 30}.get(progress.phase)


# --- the practitioner's view ----------------------------------------------------------------

PRACTITIONER_ACTIONS = tuple(a for a, kind in DECISIONS.items()
                             if Role.PRACTITIONER in kind.roles and kind is not Withdrawal)


class NextStep(BaseModel):
    who: str = Field(description="Wie nu aan zet is")
    what: str
    asked: str | None = Field(None, description="Wat er gevraagd is (aanvulling)")
    due_on: date | None = Field(description="Uiterste datum")


class InvoiceLine(BaseModel):
    number: str = Field(description="Factuurnummer, ook het betalingskenmerk")
    kind: str
    amount: Decimal
    issued_on: date
    account: str = Field(description="Over te maken aan")
    iban: str
    due_on: date | None = Field(description="Uiterste betaaldatum")


class Line(BaseModel):
    label: str
    text: str


class StatusView(BaseModel):
    """What the practitioner sees of the case: on the status page and on the API alike."""

    number: str
    practitioner_name: str
    kp_number: str
    specialisation: str
    state: CaseState
    state_label: str
    closed: bool
    closed_text: str | None
    progress: str | None = Field(description="Een ontvangen besluit dat nog wordt verwerkt")
    next_step: NextStep | None
    action: str | None = Field(description="Wat de oefentherapeut nu kan doen (actie)")
    pause_key: str | None = Field(description="De stap waar die actie bij hoort")
    can_withdraw: bool
    open_invoices: list[InvoiceLine]
    dates: list[Line]
    history: list[Line]






def _timeline(case: Case, events: list[CaseEvent]) -> list[Line]:
    """The milestones only, one per state reached, dated: what a person tells another."""
    rows = [Line(label=format_date(case.request_date), text="Uw aanvraag is ontvangen")]
    for e in events:
        milestone = STAGE[e.to_state].milestone if e.to_state else None
        if e.kind is EventKind.TRANSITION and milestone:
            day = format_date(local_time(e.at).date())
            rows.append(Line(label=day, text=milestone))
    return rows


def _asked(events: list[CaseEvent], action: str) -> str | None:
    """What KP or the reviewer asked for at the last request: repeated where the practitioner
    supplies it, so the mail need not be at hand."""
    field, outcome = {"completion_supplied": ("missing", None),
                      "additions_supplied": ("explanation", "additions")}.get(action, ("", None))
    asked = [e.input.get(field) for e in events if e.kind is EventKind.DECISION
             and e.action in ("completeness", "findings")
             and (outcome is None or e.input.get("outcome") == outcome)]
    last = asked[-1] if asked and field else None
    return last if isinstance(last, str) and last else None


def _dates(session: Session, case: Case) -> list[Line]:
    found = [Line(label="Aanvraag ontvangen", text=f"{format_date(case.request_date)} (de dag "
                  "dat uw verzoek bij de VvOCM binnenkwam; uw punten en uren tellen over de vijf "
                  "jaar daarvoor)")]
    if case.reopened_on:
        found.append(Line(label="Portfolio heropend", text=format_date(case.reopened_on)))
    if case.submitted_on:
        found.append(Line(label="Dossier ingediend", text=format_date(case.submitted_on)))
    for invoice in case_invoices(session=session, case_id=case.id or 0):
        if invoice.paid_on:
            found.append(Line(label=f"Betaling ontvangen ({invoice.kind.label.lower()})",
                              text=format_date(invoice.paid_on)))
    certificate = get_certificate(session=session, case_id=case.id or 0)
    if certificate:
        start, end = format_date(certificate.period_start), format_date(certificate.period_end)
        found.append(Line(label="Nieuwe registratieperiode", text=f"{start} tot en met {end}"))
    return found


def _invoice_line(case: Case, invoice: Invoice) -> InvoiceLine:
    """The re-registration invoice is due when the payment pause is; the intake fee has no
    deadline in the procedure."""
    account, iban = get_settings().payment.payee(invoice.kind)
    due = case.due_on if invoice.kind is InvoiceKind.REREGISTRATION \
        and case.awaiting_action == "payment_received" else None
    return InvoiceLine(number=invoice.number, kind=invoice.kind.label,
                       amount=invoice.amount, issued_on=invoice.issued_on, account=account,
                       iban=iban, due_on=due)


def status_view(session: Session, case: Case) -> StatusView:
    events = history(session=session, case_id=case.id or 0)
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    progress = case_progress(session, case)
    busy = progress.phase in (Phase.PROCESSING, Phase.DELAYED, Phase.STUCK)
    action = case.awaiting_action if case.awaiting_action in PRACTITIONER_ACTIONS \
        and not busy else None
    next_step = None
    pause = PAUSE_BY_ACTION.get(case.awaiting_action or "")
    if not case.state.is_closed and not busy and pause is not None:
        wait = pause.wait_on(case.awaiting_party)
        yours = wait.party == Party.PRACTITIONER
        # One date: the practitioner's own due date; the office's is not theirs to keep.
        next_step = NextStep(who=wait.next_who, what=wait.next_what,
                             due_on=case.due_on if yours else None,
                             asked=_asked(events, case.awaiting_action or ""))
    return StatusView(
        number=case.number, practitioner_name=practitioner.name,
        kp_number=practitioner.kp_number, specialisation=case_policy(case).name,
        state=case.state, state_label=case.state.label, closed=case.state.is_closed,
        closed_text=STAGE[case.state].closed_text, progress=progress.public_text,
        next_step=next_step, action=action, pause_key=case.awaiting_key if action else None,
        can_withdraw=not case.state.is_closed and not any(
            e.key == f"decision:{Withdrawal.action}" for e in events),
        open_invoices=[_invoice_line(case, i)
                       for i in case_invoices(session=session, case_id=case.id or 0)
                       if i.status is InvoiceStatus.OPEN],
        dates=_dates(session, case), history=_timeline(case, events),
    )


# --- finding cases: the staff inbox and the API's list ----------------------------------------


@dataclass(frozen=True)
class CaseQuery:
    """Which cases, in what order. `waiting_for`: only cases awaiting one of these actions
    (and, with `with_stuck`, those the reconciler gave up on, and with `with_escalated`, late
    reviews escalated to KP: tasks/deadlines.py); `open_only` leaves closed cases
    out; `by_due`: most urgent first (stuck, then the earliest due date), else by number."""

    state: CaseState | None = None
    specialisation: str = ""
    search: str = ""
    waiting_for: tuple[str, ...] | None = None
    with_stuck: bool = False
    with_escalated: bool = False
    open_only: bool = True
    by_due: bool = True
    offset: int = 0
    limit: int = 50


def escalated() -> ColumnElement[bool]:
    """The case's current pause is a late review that was escalated to KP."""
    return exists().where(
        col(CaseEvent.case_id) == Case.id,
        col(CaseEvent.key) == literal(ESCALATION, String) + col(Case.awaiting_key))


def escalated_cases(session: Session, cases: list[Case]) -> set[int]:
    """Of these cases, those whose current pause was escalated (for the inbox's mark)."""
    wanted = {(case.id, f"{ESCALATION}{case.awaiting_key}") for case in cases
              if case.awaiting_key}
    if not wanted:
        return set()
    found = session.exec(select(col(CaseEvent.case_id), col(CaseEvent.key)).where(
        col(CaseEvent.case_id).in_([case_id for case_id, _ in wanted]),
        col(CaseEvent.key).in_([key for _, key in wanted])))
    return {case_id for case_id, key in found if (case_id, key) in wanted}


def find_cases(session: Session, query: CaseQuery) -> tuple[list[tuple[Case, Practitioner]],
                                                             int]:
    """The page of cases asked for, and how many there are in all."""
    pause = aliased(CaseEvent)
    statement = (
        select(Case, Practitioner)
        .join(Practitioner, col(Practitioner.id) == Case.practitioner_id)
        .outerjoin(pause, and_(
            col(pause.case_id) == Case.id,
            col(pause.key) == literal("pause:", String) + col(Case.awaiting_key),
        ))
    )
    if query.open_only:
        statement = statement.where(col(Case.state).not_in(CLOSED_STATES))
    if query.waiting_for is not None:
        mine: ColumnElement[bool] = col(Case.awaiting_action).in_(query.waiting_for)
        if query.with_stuck:
            mine = or_(mine, col(Case.stuck_reason).is_not(None), waiting_too_long(utcnow()))
        if query.with_escalated:
            mine = or_(mine, escalated())
        statement = statement.where(mine)
    if query.state is not None:
        statement = statement.where(Case.state == query.state)
    if query.specialisation:
        statement = statement.where(Case.specialisation == query.specialisation)
    if query.search:
        needle = query.search.lower()
        statement = statement.where(or_(*(
            func.lower(column).contains(needle, autoescape=True)
            for column in (col(Case.number), col(Practitioner.name), col(Practitioner.kp_number))
        )))
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    order = (col(Case.state).in_(CLOSED_STATES), col(Case.stuck_reason).is_(None),
             col(Case.due_on).is_(None), col(Case.due_on),
             func.coalesce(pause.at, Case.updated_at), col(Case.id)) if query.by_due \
        else (col(Case.id),)
    rows = session.exec(statement.order_by(*order).offset(query.offset).limit(query.limit))
    return [(case, practitioner) for case, practitioner in rows], total


# --- the case as staff see it: the API's answer and the staff case page's facts ---------------


class CaseItem(BaseModel):
    number: str
    state: CaseState
    state_label: str
    specialisation: str
    request_date: date
    awaiting_action: str | None = Field(description="De actie waarop de aanvraag wacht")
    awaiting_title: str | None
    pause_key: str | None = Field(description="De stap waar het besluit op antwoordt")
    due_on: date | None = Field(description="Uiterste datum van die actie")
    practitioner_name: str
    kp_number: str


class MailOut(BaseModel):
    key: str
    template: str
    recipient: str
    subject: str
    status: str
    sent_at: datetime | None


class EventOut(BaseModel):
    at: datetime
    kind: str
    actor_role: Role
    actor_role_label: str
    actor_name: str
    action: str
    action_title: str | None
    input: dict[str, Any]
    from_state: CaseState | None
    to_state: CaseState | None
    mails: list[MailOut]


class VerdictOut(BaseModel):
    """R6: points and hours over the five years before the request."""

    sufficient: bool
    window_start: date
    window_end: date
    points_total: Decimal
    points_by_category: dict[str, Decimal]
    hours_total: Decimal
    months_with_hours: int
    bot_days_held: int | None
    bot_days_attended: int | None
    bot_days_required: int | None
    shortfalls: list[str]
    notes: list[str]


class CaseDetail(CaseItem):
    specialisation_name: str
    closed: bool
    reopened_on: date | None
    submitted_on: date | None
    review_round: int
    progress: Phase = Field(description="waiting: wacht op een persoon; processing: een besluit "
                            "wordt verwerkt; delayed: dat duurt langer dan normaal en wordt "
                            "automatisch hersteld; stuck: vastgelopen, herstarten nodig")
    progress_message: str | None
    practitioner: PractitionerPublic
    verdict: VerdictOut
    history: list[EventOut]
    invoices: list[InvoicePublic]
    reviews: list[ReviewPublic]
    certificate: CertificatePublic | None


def case_item(case: Case, practitioner: Practitioner) -> dict[str, Any]:
    awaited = DECISIONS.get(case.awaiting_action or "")
    return {
        "number": case.number, "state": case.state, "state_label": case.state.label,
        "specialisation": case.specialisation, "request_date": case.request_date,
        "awaiting_action": case.awaiting_action,
        "awaiting_title": awaited.title if awaited else None, "pause_key": case.awaiting_key,
        "due_on": case.due_on,
        "practitioner_name": practitioner.name, "kp_number": practitioner.kp_number,
    }


def case_detail(session: Session, case: Case, events: list[CaseEvent] | None = None,
                mails: list[OutboxMail] | None = None) -> CaseDetail:
    """`events` and `mails`: the case's history and mails, if the caller has read them."""
    case_id = case.id or 0
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    if events is None:
        events = history(session=session, case_id=case_id)
    by_key = {mail.key: mail for mail in (
        case_mails(session=session, case_id=case_id) if mails is None else mails)}
    verdict = case_verdict(case)
    certificate = get_certificate(session=session, case_id=case_id)
    progress = case_progress(session, case)
    return CaseDetail(
        **case_item(case, practitioner),
        specialisation_name=case_policy(case).name, closed=case.state.is_closed,
        reopened_on=case.reopened_on, submitted_on=case.submitted_on,
        review_round=case.review_round, progress=progress.phase,
        progress_message=progress.staff_text,
        practitioner=PractitionerPublic.model_validate(practitioner, from_attributes=True),
        verdict=VerdictOut(
            sufficient=verdict.sufficient, window_start=verdict.window[0],
            window_end=verdict.window[1], points_total=verdict.points_total,
            points_by_category=verdict.points_by_category, hours_total=verdict.hours_total,
            months_with_hours=verdict.months_with_hours, bot_days_held=verdict.bot_days_held,
            bot_days_attended=verdict.bot_days_attended,
            bot_days_required=verdict.bot_days_required,
            shortfalls=[shortfall.message for shortfall in verdict.shortfalls],
            notes=verdict.notes,
        ),
        history=[
            EventOut(
                at=event.at, kind=event.kind, actor_role=event.actor_role,
                actor_role_label=event.actor_role.label, actor_name=event.actor_name,
                action=event.action,
                action_title=kind.title if (kind := DECISIONS.get(event.action)) else None,
                input=event.input, from_state=event.from_state, to_state=event.to_state,
                mails=[MailOut(key=mail.key, template=mail.template, recipient=mail.recipient,
                               subject=mail.subject, status=mail.status, sent_at=mail.sent_at)
                       for key in event.mails if (mail := by_key.get(key)) is not None],
            )
            for event in events
        ],
        invoices=[InvoicePublic.model_validate(i, from_attributes=True)
                  for i in case_invoices(session=session, case_id=case_id)],
        reviews=[ReviewPublic.model_validate({**r.model_dump(), "reviewer_name": _reviewer_name(
            session, r.reviewer_id)}) for r in case_reviews(session=session, case_id=case_id)],
        certificate=CertificatePublic.model_validate(certificate, from_attributes=True)
        if certificate else None,
    )


def _reviewer_name(session: Session, reviewer_id: int) -> str:
    reviewer = session.get(Reviewer, reviewer_id)
    return reviewer.name if reviewer else ""
