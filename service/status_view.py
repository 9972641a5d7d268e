"""What a practitioner may see of their case (the status page and the practitioner's API
link): where it stands, what is asked of them and by when, the dates that matter and the
open invoices, in plain Dutch and without staff notes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlmodel import Session

from domain.decisions import Withdrawal
from domain.formatting import format_date, local_time
from domain.procedure import DECISIONS, PAUSE_BY_ACTION, STAGE
from domain.states import CaseState, Party, Role
from models.case import Case, CaseEvent, EventKind, case_policy, history
from models.certificate import get_certificate
from models.invoice import Invoice, InvoiceKind, InvoiceStatus, case_invoices
from models.practitioner import Practitioner
from service.progress import Phase, case_progress
from settings import get_settings

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
