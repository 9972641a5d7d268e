"""Deadlines that chase: before a pause's due date, whoever the wait is on gets a reminder (and
before its due date, the practitioner an unpaid intake-fee invoice, which no pause waits for).
Past the due date only a wait on the practitioner expires the case (tasks/cases.py,
`close_case`); a late reviewer is escalated to KP, and a late VvOCM or KP step to the lead of
that office (a mail and a mark in the inbox). The office's and the reviewer's own delays never
close a case.

Each reminder and escalation is a history row of the case with its mail, written in one
transaction under the case's lock; the row's key (`reminder:<pause>:<days>`, and for a wait
within a pause on someone else, the intake call's time, `reminder:<pause>:<party>:<days>`) is
unique per case, so a sweep that runs twice, is retried or dies half way sends nothing twice.
A sweep that was down sends, per wait, only the latest reminder that came due, never the
earlier ones it missed, and nothing once the due date has passed. Who is reminded and what
they read come from the pause's declaration (domain/procedure.py).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlmodel import Session, col, select

from adapters.blobs import read_blob
from adapters.links import dossier_url, staff_case_url
from adapters.papers import PDF, Attachment
from domain.procedure import PAUSE_BY_ACTION, awaited
from domain.states import HELD_TO_DEADLINE, Party, Role
from models.case import Case, CaseEvent, EventKind, get_case, get_event
from models.db import read_session, session_scope
from models.decision import get_decision
from models.invoice import Invoice, InvoiceKind, InvoiceStatus
from models.review import get_reviewer
from settings import get_settings
from tasks.transitions import OPEN_STATES, side_step

log = logging.getLogger(__name__)

ESCALATION = "escalation:"


def escalation_key(pause_key: str) -> str:
    return f"{ESCALATION}{pause_key}"


@task(cache_policy=NO_CACHE)
def send_deadline_reminders(today: date) -> dict[str, int]:
    """Reminders due today (or the latest one missed while the sweep was down) and
    escalations of late reviews; per kind, how many went out, and how many cases failed."""
    chase = get_settings().deadlines
    horizon = today + timedelta(days=max(chase.reminders_before, default=0))
    with read_session() as session:
        waiting = session.exec(
            select(col(Case.id), col(Case.awaiting_key), col(Case.awaiting_party),
                   col(Case.due_on))
            .where(col(Case.state).in_(OPEN_STATES), col(Case.awaiting_key).is_not(None),
                   col(Case.due_on).is_not(None), col(Case.due_on) <= horizon)
            .order_by(col(Case.due_on), col(Case.id))).all()
    sent = {"reminder": 0, "escalation": 0, "invoice_reminder": 0, "errors": 0}
    for case_id, pause_key, party, due in waiting:
        if case_id is None or pause_key is None or party is None or due is None:
            continue
        try:  # one case's failure holds up no other
            late = (today - due).days
            if due >= today:
                came_due = [days for days in chase.reminders_before
                            if due - timedelta(days) <= today]
                if came_due:
                    sent["reminder"] += _remind(case_id, pause_key, min(came_due), today)
            elif party == Party.REVIEWER and late >= chase.escalate_review_after:
                sent["escalation"] += _escalate(case_id, pause_key, today)
            elif party in (Party.ASSOCIATION, Party.REGISTER) \
                    and late >= chase.escalate_staff_after:
                sent["escalation"] += _escalate_to_lead(case_id, pause_key, today)
        except Exception:
            log.exception("Herinnering voor aanvraag %s mislukt", case_id)
            sent["errors"] += 1
    with read_session() as session:  # the intake fee: an invoice no pause waits for
        unpaid = session.exec(
            select(col(Invoice.id), col(Invoice.due_on))
            .join(Case, col(Case.id) == col(Invoice.case_id))
            .where(col(Invoice.kind) == InvoiceKind.INTAKE,
                   col(Invoice.status) == InvoiceStatus.OPEN, col(Invoice.due_on) >= today,
                   col(Invoice.due_on) <= horizon, col(Case.state).in_(OPEN_STATES))).all()
    for invoice_id, invoice_due in unpaid:
        if invoice_id is None or invoice_due is None:
            continue
        came_due = [days for days in chase.reminders_before
                    if invoice_due - timedelta(days) <= today]
        if not came_due:
            continue
        try:
            sent["invoice_reminder"] += _remind_invoice(invoice_id, min(came_due), today)
        except Exception:
            log.exception("Herinnering voor factuur %s mislukt", invoice_id)
            sent["errors"] += 1
    return sent


def _remind_invoice(invoice_id: int, days: int, today: date) -> bool:
    """The intake fee's invoice `days` before its due date, with the invoice attached again."""
    with session_scope() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None and invoice.due_on is not None
        case = get_case(session=session, case_id=invoice.case_id, for_update=True)
        session.refresh(invoice)
        if invoice.status is not InvoiceStatus.OPEN:
            return False
        prefix = f"reminder:{invoice.number}:"
        done = session.exec(select(CaseEvent.key).where(
            CaseEvent.case_id == case.id, col(CaseEvent.key).startswith(prefix))).all()
        if any(int(key.rsplit(":", 1)[1]) <= days for key in done):
            return False
        step = side_step(session, case, f"reminder-{invoice.number}-{days}", today)
        account, iban = get_settings().payment.payee(invoice.kind)
        papers = [Attachment(f"factuur-{invoice.number}.pdf", PDF,
                             read_blob(invoice.pdf_sha256))] if invoice.pdf_sha256 else []
        step.mail("invoice_reminder", "practitioner", invoice_number=invoice.number,
                  amount=invoice.amount, due_date=invoice.due_on, account=account, iban=iban,
                  attach=papers)
        session.add(CaseEvent(
            case_id=case.id or 0, key=f"{prefix}{days}", kind=EventKind.NOTE,
            actor_role=Role.SYSTEM, actor_name="workflow", action="reminder",
            input={"invoice": invoice.number, "due_on": invoice.due_on.isoformat()},
            from_state=case.state, to_state=case.state, mails=step.mails))
        return True


def _reminder_prefix(pause_key: str, action: str, party: str) -> str:
    """The keys of one wait's reminders: the pause's own wait keeps the plain key."""
    pause = PAUSE_BY_ACTION.get(action)
    own = pause is None or pause.wait.party == party
    return f"reminder:{pause_key}:" if own else f"reminder:{pause_key}:{party}:"


def _reminded(session: Session, case: Case, pause_key: str, prefix: str, days: int) -> bool:
    """Whether this reminder, or a later one of the same wait, went out already. For a wait
    within a pause, a reminder written before such waits had keys of their own counts if it
    was for the same due date."""
    rows = session.exec(select(CaseEvent.key, CaseEvent.input).where(
        CaseEvent.case_id == case.id,
        col(CaseEvent.key).startswith(f"reminder:{pause_key}:"))).all()
    due = case.due_on.isoformat() if case.due_on else None
    own = prefix == f"reminder:{pause_key}:"
    for key, data in rows:
        tail = key.removeprefix(prefix)
        if key.startswith(prefix) and tail.isdigit():
            sent = int(tail)
        elif not own and key.count(":") == 2 and data.get("due_on") == due:
            sent = int(key.rsplit(":", 1)[1])
        else:
            continue
        if sent <= days:
            return True
    return False


def _remind(case_id: int, pause_key: str, days: int, today: date) -> bool:
    """The reminder `days` before the due date, unless it or a later one went out already."""
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if not _waiting(session, case, pause_key) or case.due_on is None:
            return False  # decided or moved on since the list was read
        action, audience = case.awaiting_action or "", case.awaiting_party or ""
        prefix = _reminder_prefix(pause_key, action, audience)
        if _reminded(session, case, pause_key, prefix, days):
            return False
        step = side_step(session, case, f"{prefix.replace(':', '-')}{days}", today)
        extra: dict[str, Any] = {"audience": audience, "awaited": awaited(action, audience),
                                 "due_date": case.due_on,
                                 "days_left": (case.due_on - today).days,
                                 "case_url": staff_case_url(case.number)}
        to = audience
        if audience == "reviewer":
            reviewer = get_reviewer(session=session, reviewer_id=case.reviewer_id or 0)
            if reviewer is None:
                return False
            to = reviewer.email
            extra |= {"reviewer_name": reviewer.name,
                      "dossier_url": dossier_url(case_id, reviewer.id or 0, case.review_round)}
        step.mail("deadline_reminder", to, **extra)
        session.add(CaseEvent(
            case_id=case_id, key=f"{prefix}{days}", kind=EventKind.NOTE,
            actor_role=Role.SYSTEM, actor_name="workflow", action="reminder",
            input={"due_on": case.due_on.isoformat()}, from_state=case.state,
            to_state=case.state, mails=step.mails))
        return True


def _escalate(case_id: int, pause_key: str, today: date) -> bool:
    """Once per late review: KP is mailed, and the case shows in KP's inbox with a mark."""
    key = escalation_key(pause_key)
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if not _waiting(session, case, pause_key) or case.due_on is None \
                or get_event(session=session, case_id=case_id, key=key) is not None:
            return False
        reviewer = get_reviewer(session=session, reviewer_id=case.reviewer_id or 0)
        step = side_step(session, case, f"escalation-{pause_key}", today)
        step.mail("review_overdue", "register", due_date=case.due_on,
                  days_late=(today - case.due_on).days,
                  reviewer_name=reviewer.name if reviewer else "",
                  reviewer_email=reviewer.email if reviewer else "",
                  case_url=staff_case_url(case.number))
        session.add(CaseEvent(
            case_id=case_id, key=key, kind=EventKind.NOTE, actor_role=Role.SYSTEM,
            actor_name="workflow", action="escalation",
            input={"due_on": case.due_on.isoformat()}, from_state=case.state,
            to_state=case.state, mails=step.mails))
        return True


def _escalate_to_lead(case_id: int, pause_key: str, today: date) -> bool:
    """Once per late VvOCM or KP step: that office's lead is mailed, and the case is marked
    in the inbox. The case stays open: the office's delay is not the practitioner's."""
    key = escalation_key(pause_key)
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if not _waiting(session, case, pause_key) or case.due_on is None \
                or get_event(session=session, case_id=case_id, key=key) is not None:
            return False
        office = case.awaiting_party or ""
        addresses = get_settings().addresses
        lead = addresses.association_lead if office == Party.ASSOCIATION \
            else addresses.register_lead
        step = side_step(session, case, f"escalation-{pause_key}", today)
        step.mail("step_overdue", lead, office=office, due_date=case.due_on,
                  days_late=(today - case.due_on).days,
                  awaited=awaited(case.awaiting_action, office),
                  case_url=staff_case_url(case.number))
        session.add(CaseEvent(
            case_id=case_id, key=key, kind=EventKind.NOTE, actor_role=Role.SYSTEM,
            actor_name="workflow", action="escalation_to_lead",
            input={"due_on": case.due_on.isoformat(), "to": office}, from_state=case.state,
            to_state=case.state, mails=step.mails))
        return True


def _waiting(session: Session, case: Case, pause_key: str) -> bool:
    """Still at this pause with nobody's decision recorded (one may await its run)."""
    return case.awaiting_key == pause_key and case.due_on is not None \
        and get_decision(session=session, case_id=case.id or 0, pause_key=pause_key) is None


@task
def overdue_cases(today: date) -> list[int]:
    """Open cases whose wait on the practitioner passed its due date without a decision.
    Waits on VvOCM, KP or the reviewer never expire a case: they remind and escalate."""
    with session_scope() as session:
        cases = session.exec(
            select(Case).where(col(Case.due_on) < today, col(Case.state).in_(OPEN_STATES),
                               col(Case.awaiting_party) == HELD_TO_DEADLINE)
        )
        return [case.id for case in cases if case.id is not None]
