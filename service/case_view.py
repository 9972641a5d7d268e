"""The case as staff see it: the API's answer and the facts of the staff case page (its
practitioner, verdict, invoices, reviews, mails and history), the same everywhere.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from domain.procedure import DECISIONS
from domain.states import CaseState, Role
from models.case import Case, CaseEvent, case_policy, case_verdict, history
from models.certificate import CertificatePublic, get_certificate
from models.invoice import InvoicePublic, case_invoices
from models.outbox import OutboxMail, case_mails
from models.practitioner import Practitioner, PractitionerPublic
from models.review import Reviewer, ReviewPublic, case_reviews
from service.progress import Phase, case_progress


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
