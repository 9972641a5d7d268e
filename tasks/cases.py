"""Case state and everything written with a transition, in one transaction per step.

Each step is keyed (`step:<name>`) in the case history, which is the step ledger: a replayed
or retried step finds its row and does nothing, so no mail, invoice or certificate is made
twice. The mails are rendered and stored in the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from prefect import task
from sqlmodel import Session, col, select

from domain.errors import CaseClosed, InvalidTransition
from domain.messages import (
    CASE_CLOSED,
    INTAKE_CANCELLED_CLOSED,
    INTAKE_CANCELLED_OUTCOME,
    WRONG_STATE,
)
from domain.procedure import ADDITIONS, COMPLETION, FINDINGS, PAYMENT, SUBMISSION, Pause, awaited
from domain.states import CLOSED_STATES, HELD_TO_DEADLINE, CaseState, Role
from domain.working_days import due_date
from models.case import (
    Case,
    CaseEvent,
    EventKind,
    add_note,
    case_policy,
    case_verdict,
    get_case,
    get_event,
)
from models.certificate import Certificate
from models.counter import next_number
from models.db import session_scope, utcnow
from models.decision import get_decision
from models.document import case_documents
from models.invoice import (
    CreditNote,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    get_invoice,
    issue_credit_note,
    issue_invoice,
)
from models.outbox import OutboxMail, get_mail
from models.practitioner import Practitioner
from models.registration import Registration, RegistrationStatus, latest_registration
from models.review import Review, ReviewOutcome, get_review, get_reviewer, upsert_reviewer
from policies import RegisterPolicy
from settings import Issuer, get_settings
from tasks.blobs import store_blob
from tasks.intake import cancel_planned_call
from tasks.links import dossier_url, payment_url, staff_case_url, status_url
from tasks.papers import PDF, Attachment, register_entry_url, render_pdf
from tasks.rendering import render_mail
from tasks.retrying import case_task

S = CaseState
OPEN_STATES = frozenset(CaseState) - CLOSED_STATES
Recipient = Literal["practitioner", "association", "register"]


@dataclass
class Step:
    """What a step's body may use: the locked case and helpers to mail within the transaction."""

    session: Session
    case: Case
    practitioner: Practitioner
    policy: RegisterPolicy
    today: date
    key: str
    mails: list[str] = field(default_factory=list)

    @property
    def case_id(self) -> int:
        assert self.case.id is not None
        return self.case.id

    def due_of(self, pause: Pause[Any]) -> date:
        """The due date of `pause` if it opens today, as the mail before it names it."""
        return due_date(self.today, get_settings().deadlines.days_for(pause))

    def mail(self, template: str, to: Recipient | str, *, attach: Sequence[Attachment] = (),
             **extra: Any) -> None:
        """Render and store one mail; the key (case, step, template) makes it once only.
        Attachments are kept by their hash (tasks/blobs.py) and added when it is sent."""
        mail_key = f"{self.case_id}:{self.key}:{template}"
        self.mails.append(mail_key)
        if get_mail(session=self.session, key=mail_key) is not None:
            return
        addresses = get_settings().addresses
        recipient = {
            "practitioner": self.practitioner.email,
            "association": addresses.association,
            "register": addresses.register_office,
        }.get(to, to)
        context: dict[str, Any] = {
            "case_number": self.case.number,
            "practitioner_name": self.practitioner.name,
            "kp_number": self.practitioner.kp_number,
            "specialisation": self.policy.name,
            "today": self.today,
            **extra,
        }
        if to == "practitioner":
            context["status_url"] = status_url(self.case_id)
        rendered = render_mail(template, context)
        self.session.add(OutboxMail(
            key=mail_key, case_id=self.case_id, template=template, recipient=recipient,
            subject=rendered.subject, text=rendered.text, html=rendered.html,
            attachments=[{"filename": a.filename, "media_type": a.media_type,
                          "sha256": store_blob(a.content)} for a in attach],
        ))


def side_step(session: Session, case: Case, name: str, today: date | None = None) -> Step:
    """A Step for what happens beside the plan (a reminder, an intake time): its mails, not a
    transition. The caller holds the case's lock and writes the history row."""
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    return Step(session=session, case=case, practitioner=practitioner, policy=case_policy(case),
                today=today or get_settings().current_date(), key=name)


def run_step(
    case_id: int,
    name: str,
    *,
    expect: frozenset[CaseState] | set[CaseState],
    to: CaseState,
    body: Callable[[Step], None] = lambda _step: None,
    cause: str | None = None,
) -> bool:
    """Apply one step once: False if the ledger shows it done. `cause` is the pause whose
    decision led here; its actor and input are copied onto the transition row."""
    key = f"step:{name}"
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if get_event(session=session, case_id=case_id, key=key) is not None:
            return False
        if case.state not in expect:
            label = case.state.label
            if case.state in CLOSED_STATES:
                raise CaseClosed(CASE_CLOSED.format(label=label), state=case.state)
            raise InvalidTransition(WRONG_STATE.format(state=case.state, label=label),
                                    state=case.state)
        practitioner = session.get(Practitioner, case.practitioner_id)
        assert practitioner is not None
        step = Step(session=session, case=case, practitioner=practitioner,
                    policy=case_policy(case), today=get_settings().current_date(), key=name)
        body(step)
        decision = get_decision(session=session, case_id=case_id, pause_key=cause) \
            if cause else None
        session.add(CaseEvent(
            case_id=case_id, key=key, kind=EventKind.TRANSITION,
            actor_role=decision.actor_role if decision else Role.SYSTEM,
            actor_name=decision.actor_name if decision else "workflow",
            action=name, input=decision.input if decision else {},
            from_state=case.state, to_state=to, mails=step.mails,
        ))
        case.state, case.updated_at = to, utcnow()
        # Progress: whatever repairs it took to get here worked.
        case.repair_attempts, case.stuck_reason, case.stuck_since = 0, None, None
        session.add(case)
    return True


def _invoice_paper(step: Step, invoice: Invoice, description: str, supplied_on: date | None,
                   due_on: date) -> Attachment:
    """The invoice as a PDF meeting the Dutch invoice rules, kept with the invoice. A service
    not yet dated (the intake call, before a time is picked) says when it will be."""
    papers = get_settings().papers
    issuer = papers.association if invoice.kind is InvoiceKind.INTAKE else papers.register_office
    account, iban = get_settings().payment.payee(invoice.kind)
    pdf = render_pdf("invoice.html", {
        "invoice_number": invoice.number, "issued_on": invoice.issued_on,
        "supplied_on": supplied_on, "supplied_text": SUPPLIED_AT_THE_CALL,
        "contact_email": _contact(invoice.kind), "due_on": due_on,
        "case_number": step.case.number,
        "customer_name": step.practitioner.name, "customer_address": step.practitioner.address,
        "customer_email": step.practitioner.email, "kp_number": step.practitioner.kp_number,
        "description": description, "amount": invoice.amount, "vat": _vat(issuer, invoice.amount),
        "account": account, "iban": iban, "credited": None}, issuer)
    invoice.due_on, invoice.pdf_sha256 = due_on, store_blob(pdf)
    step.session.add(invoice)
    return Attachment(f"factuur-{invoice.number}.pdf", PDF, pdf)


SUPPLIED_AT_THE_CALL = "de dag van het startgesprek (u kiest die uit de aangeboden tijden)"


def _contact(kind: InvoiceKind) -> str:
    """Where questions about an invoice go: its issuer's office."""
    addresses = get_settings().addresses
    return addresses.association if kind is InvoiceKind.INTAKE else addresses.register_office


def _vat(issuer: Issuer, amount: Decimal) -> dict[str, Decimal] | None:
    """The VAT included in `amount`, or None where the exemption line applies."""
    if not issuer.vat_rate:
        return None
    net = (amount * 100 / (100 + issuer.vat_rate)).quantize(Decimal("0.01"))
    return {"rate": issuer.vat_rate, "net": net, "amount": amount - net}


def _credit_paper(step: Step, invoice: Invoice) -> tuple[CreditNote, Attachment]:
    """A paid re-registration withdrawn before its review: the invoice credited in full."""
    note = issue_credit_note(session=step.session, invoice=invoice, issued_on=step.today)
    issuer = get_settings().papers.register_office
    pdf = render_pdf("invoice.html", {
        "invoice_number": note.number, "issued_on": note.issued_on,
        "supplied_on": step.case.submitted_on or invoice.issued_on, "due_on": None,
        "supplied_text": "", "contact_email": _contact(invoice.kind),
        "case_number": step.case.number, "customer_name": step.practitioner.name,
        "customer_address": step.practitioner.address,
        "customer_email": step.practitioner.email, "kp_number": step.practitioner.kp_number,
        "description": f"Creditering herregistratie specialisatie {step.policy.name}",
        "amount": -note.amount, "vat": _vat(issuer, -note.amount), "account": "", "iban": "",
        "credited": invoice}, issuer)
    note.pdf_sha256 = store_blob(pdf)
    step.session.add(note)
    return note, Attachment(f"creditnota-{note.number}.pdf", PDF, pdf)


def _verdict_summary(step: Step) -> dict[str, Any]:
    verdict = case_verdict(step.case)
    return {"verdict": verdict, "member": step.practitioner.member}


@case_task
def acknowledge_request(case_id: int) -> bool:
    """R5/R6: confirms the request to the practitioner and asks VvOCM to check points and hours."""
    def body(step: Step) -> None:
        step.mail("request_received", "practitioner", request_date=step.case.request_date)
        evidence = step.case.evidence
        step.mail("association_check_requested", "association",
                  request_date=step.case.request_date, case_url=staff_case_url(step.case.number),
                  sent_files=len(case_documents(session=step.session, case_id=step.case_id)),
                  counted=bool(evidence.get("activities") or evidence.get("work_hours")),
                  **_verdict_summary(step))
    return run_step(case_id, "acknowledge-request", expect={S.REQUESTED},
                    to=S.ASSOCIATION_CHECK, body=body)


@case_task
def invite_to_intake_call(case_id: int, cause: str) -> bool:
    """R7: the intake call is free for members; non-members get an invoice for the fee."""
    def body(step: Step) -> None:
        fee = step.policy.intake_fee(step.practitioner.member)
        invoice = issue_invoice(session=step.session, case_id=step.case_id,
                                kind=InvoiceKind.INTAKE, amount=fee,
                                issued_on=step.today) if fee > 0 else None
        account, iban = get_settings().payment.payee(InvoiceKind.INTAKE)
        papers = [_invoice_paper(step, invoice, f"Online startgesprek herregistratie "
                                 f"{step.policy.name} (tarief voor niet-leden van de VvOCM)",
                                 None, step.due_of(PAYMENT))] \
            if invoice else []
        step.mail("intake_call_invited", "practitioner", member=step.practitioner.member,
                  fee=fee, invoice_number=invoice.number if invoice else None,
                  account=account, iban=iban, attach=papers)
    return run_step(case_id, "invite-to-intake-call", expect={S.ASSOCIATION_CHECK},
                    to=S.INTAKE_CALL, body=body, cause=cause)


@case_task
def decline(case_id: int, note: str, cause: str) -> bool:
    """Points or hours short: the mail says exactly what is short."""
    def body(step: Step) -> None:
        cancel_planned_call(step, reason=INTAKE_CANCELLED_OUTCOME)  # decided before the call
        step.mail("declined", "practitioner", shortfalls=case_verdict(step.case).shortfalls,
                  note=note)
    return run_step(case_id, "decline", expect={S.ASSOCIATION_CHECK, S.INTAKE_CALL},
                    to=S.DECLINED, body=body, cause=cause)


@case_task
def advise_reopening(case_id: int, note: str, cause: str) -> bool:
    """R8: VvOCM advises KP by e-mail to reopen the specialisation portfolio, and tells the
    practitioner, who otherwise hears nothing until KP has reopened it."""
    def body(step: Step) -> None:
        decision = get_decision(session=step.session, case_id=step.case_id, pause_key=cause)
        verdict = case_verdict(step.case)
        step.mail("reopen_advice", "register",
                  association_staff=decision.actor_name if decision else "VvOCM",
                  verdict=verdict, note=note)
        step.mail("association_approved", "practitioner", verdict=verdict)
        cancel_planned_call(step, reason=INTAKE_CANCELLED_OUTCOME)  # decided before the call
    return run_step(case_id, "advise-reopening", expect={S.ASSOCIATION_CHECK, S.INTAKE_CALL},
                    to=S.REOPEN_ADVISED, body=body, cause=cause)


@case_task
def confirm_reopening(case_id: int, reopened_on: date, cause: str) -> bool:
    """R8: KP reopened the portfolio and informs the practitioner, with the deadline."""
    def body(step: Step) -> None:
        step.case.reopened_on = reopened_on
        step.mail("portfolio_reopened", "practitioner", reopened_on=reopened_on,
                  due_date=step.due_of(SUBMISSION))
    return run_step(case_id, "confirm-reopening", expect={S.REOPEN_ADVISED},
                    to=S.PORTFOLIO_REOPENED, body=body, cause=cause)


@case_task
def open_submission(case_id: int) -> bool:
    """The practitioner may now update the portfolio and submit (R9)."""
    return run_step(case_id, "open-submission", expect={S.PORTFOLIO_REOPENED},
                    to=S.AWAITING_SUBMISSION)


@case_task
def invoice_application(case_id: int, submitted_on: date, cause: str) -> bool:
    """R9: the submission date is kept (it starts the new period, R12); an invoice follows."""
    def body(step: Step) -> None:
        step.case.submitted_on = submitted_on
        invoice = issue_invoice(session=step.session, case_id=step.case_id,
                                kind=InvoiceKind.REREGISTRATION,
                                amount=step.policy.reregistration_fee, issued_on=step.today)
        account, iban = get_settings().payment.payee(InvoiceKind.REREGISTRATION)
        due = step.due_of(PAYMENT)
        paper = _invoice_paper(step, invoice, f"Herregistratie specialisatie {step.policy.name}"
                               f" na een verlopen registratie ({step.case.number})",
                               submitted_on, due)
        step.mail("invoice_issued", "practitioner", invoice_number=invoice.number,
                  amount=invoice.amount, submitted_on=submitted_on, account=account, iban=iban,
                  due_date=due, pay_url=payment_url(invoice.id or 0), attach=[paper])
    return run_step(case_id, "invoice-application", expect={S.AWAITING_SUBMISSION},
                    to=S.AWAITING_PAYMENT, body=body, cause=cause)


@case_task
def confirm_payment(case_id: int, paid_on: date, cause: str) -> bool:
    """R9: the application is handled only once KP has received payment."""
    def body(step: Step) -> None:
        invoice = get_invoice(session=step.session, case_id=step.case_id,
                              kind=InvoiceKind.REREGISTRATION)
        assert invoice is not None
        invoice.status, invoice.paid_on = InvoiceStatus.PAID, paid_on
        step.session.add(invoice)
        step.mail("payment_confirmed", "practitioner", invoice_number=invoice.number,
                  amount=invoice.amount, paid_on=paid_on)
    return run_step(case_id, "confirm-payment", expect={S.AWAITING_PAYMENT},
                    to=S.COMPLETENESS_CHECK, body=body, cause=cause)


@case_task
def request_completion(case_id: int, attempt: int, missing: str, cause: str) -> bool:
    """R10: an incomplete application goes back to the practitioner with what is missing."""
    def body(step: Step) -> None:
        step.mail("completion_requested", "practitioner", missing=missing,
                  due_date=step.due_of(COMPLETION))
    return run_step(case_id, f"request-completion-{attempt}", expect={S.COMPLETENESS_CHECK},
                    to=S.AWAITING_COMPLETION, body=body, cause=cause)


@case_task
def resume_completeness_check(case_id: int, attempt: int, cause: str) -> bool:
    """The completed application is checked again; KP hears that it is back."""
    def body(step: Step) -> None:
        supplied = get_decision(session=step.session, case_id=step.case_id, pause_key=cause)
        data = supplied.input if supplied else {}
        step.mail("completion_received", "register", case_url=staff_case_url(step.case.number),
                  supplied_on=date.fromisoformat(data.get("supplied_on", str(step.today))),
                  description=data.get("description", ""))
    return run_step(case_id, f"resume-completeness-{attempt}", expect={S.AWAITING_COMPLETION},
                    to=S.COMPLETENESS_CHECK, body=body, cause=cause)


@case_task
def assign_reviewer(case_id: int, reviewer_name: str, reviewer_email: str, cause: str) -> bool:
    """R10: the dossier goes to a reviewer, who gets a signed link to it."""
    def body(step: Step) -> None:
        reviewer = upsert_reviewer(session=step.session, name=reviewer_name, email=reviewer_email)
        assert reviewer.id is not None
        step.case.reviewer_id, step.case.review_round = reviewer.id, 1
        step.session.add(Review(case_id=step.case_id, round=1, reviewer_id=reviewer.id,
                                assigned_on=step.today))
        step.mail("review_assigned", reviewer.email, reviewer_name=reviewer.name,
                  dossier_url=dossier_url(step.case_id, reviewer.id, 1),
                  link_valid_until=_dossier_link_end(step.today),
                  due_date=step.due_of(FINDINGS), round=1)
    return run_step(case_id, "assign-reviewer", expect={S.COMPLETENESS_CHECK},
                    to=S.UNDER_REVIEW, body=body, cause=cause)


def _dossier_link_end(today: date) -> date:
    """The last whole day a dossier link made today works (it counts from the moment made)."""
    return today + timedelta(days=get_settings().links.dossier_days - 1)


def _record_findings(step: Step, outcome: ReviewOutcome, explanation: str) -> None:
    review = get_review(session=step.session, case_id=step.case_id, round=step.case.review_round)
    assert review is not None
    review.outcome, review.explanation, review.decided_on = outcome, explanation, step.today
    step.session.add(review)


@case_task
def request_additions(case_id: int, round: int, requested: str, cause: str) -> bool:
    """R13: the dossier cannot be approved yet; the practitioner is asked for additions."""
    def body(step: Step) -> None:
        _record_findings(step, ReviewOutcome.ADDITIONS, requested)
        step.mail("additions_requested", "practitioner", requested=requested, round=round,
                  due_date=step.due_of(ADDITIONS))
    return run_step(case_id, f"request-additions-{round}", expect={S.UNDER_REVIEW},
                    to=S.ADDITIONS_REQUESTED, body=body, cause=cause)


@case_task
def resume_review(case_id: int, round: int, description: str, cause: str) -> bool:
    """R13: the same reviewer assesses the additions in a new round."""
    def body(step: Step) -> None:
        reviewer_id = step.case.reviewer_id
        assert reviewer_id is not None
        step.case.review_round = round
        step.session.add(Review(case_id=step.case_id, round=round, reviewer_id=reviewer_id,
                                assigned_on=step.today))
        reviewer = get_reviewer(session=step.session, reviewer_id=reviewer_id)
        step.mail("additions_received", reviewer.email, reviewer_name=reviewer.name,
                  dossier_url=dossier_url(step.case_id, reviewer_id, round),
                  link_valid_until=_dossier_link_end(step.today),
                  description=description, round=round,
                  due_date=step.due_of(FINDINGS))
    return run_step(case_id, f"resume-review-{round}", expect={S.ADDITIONS_REQUESTED},
                    to=S.UNDER_REVIEW, body=body, cause=cause)


@case_task
def certify(case_id: int, explanation: str, cause: str) -> bool:
    """R12: the new five-year period starts on the submission date and does not join the old
    one; the registration becomes visible in the public register again."""
    def body(step: Step) -> None:
        _record_findings(step, ReviewOutcome.POSITIVE, explanation)
        submitted_on = step.case.submitted_on
        assert submitted_on is not None
        start, end = step.policy.new_period(submitted_on)
        number = next_number(session=step.session, series="certificate", year=step.today.year,
                             prefix="BH")
        pdf = render_pdf("certificate.html", {
            "practitioner_name": step.practitioner.name, "kp_number": step.practitioner.kp_number,
            "specialisation": step.policy.name, "register": step.policy.register,
            "period_start": start, "period_end": end, "certificate_number": number,
            "case_number": step.case.number, "issued_on": step.today,
            "verify_url": register_entry_url(step.practitioner.kp_number, step.policy.code)},
            get_settings().papers.register_office)
        step.session.add(Certificate(number=number, case_id=step.case_id, period_start=start,
                                     period_end=end, issued_on=step.today,
                                     pdf_sha256=store_blob(pdf)))
        previous = latest_registration(session=step.session,
                                       practitioner_id=step.practitioner.id or 0,
                                       specialisation=step.case.specialisation)
        if previous is not None:
            previous.status, previous.visible = RegistrationStatus.SUPERSEDED, False
            step.session.add(previous)
        step.session.add(Registration(
            practitioner_id=step.practitioner.id or 0, specialisation=step.case.specialisation,
            period_start=start, period_end=end, status=RegistrationStatus.ACTIVE, visible=True,
            case_id=step.case_id,
        ))
        step.mail("certificate_issued", "practitioner", period_start=start, period_end=end,
                  certificate_number=number,
                  attach=[Attachment(f"bewijs-van-herregistratie-{number}.pdf", PDF, pdf)])
    return run_step(case_id, "certify", expect={S.UNDER_REVIEW}, to=S.CERTIFIED, body=body,
                    cause=cause)


@case_task
def reject(case_id: int, explanation: str, cause: str) -> bool:
    """R14: the application goes back with what is missing explained."""
    def body(step: Step) -> None:
        _record_findings(step, ReviewOutcome.NEGATIVE, explanation)
        step.mail("rejected", "practitioner", explanation=explanation)
    return run_step(case_id, "reject", expect={S.UNDER_REVIEW}, to=S.REJECTED, body=body,
                    cause=cause)


@case_task
def close_case(case_id: int, reason: Literal["withdrawn", "expired"], today: date) -> bool:
    """Withdrawal or an expired deadline ends any open case; False if there was nothing to
    close. A decision that arrived for the pause in time wins over expiry (the flow processes
    it); the check runs inside the step's transaction, so a decision cannot slip in between."""

    def body(step: Step) -> None:
        case = step.case
        if case.state is S.INTAKE_CALL:
            label = (S.WITHDRAWN if reason == "withdrawn" else S.EXPIRED).label
            cancel_planned_call(step, reason=INTAKE_CANCELLED_CLOSED.format(label=label))
        if reason == "expired" and (
                case.due_on is None or case.due_on >= today or case.awaiting_key is None
                or case.awaiting_party != HELD_TO_DEADLINE
                or get_decision(session=step.session, case_id=step.case_id,
                                pause_key=case.awaiting_key) is not None):
            raise _NotOverdue
        money = _payment_on_closing(step)
        if reason == "withdrawn":
            event = get_decision(session=step.session, case_id=step.case_id,
                                 pause_key="withdraw")
            step.mail("withdrawn", "practitioner",
                      reason=str(event.input.get("reason", "")) if event else "",
                      withdrawn_by=event.actor_role.label if event else "", **money)
            if event is not None and event.consumed_at is None:
                event.consumed_at = utcnow()
                step.session.add(event)
        else:
            step.mail("expired", "practitioner",
                      awaited=awaited(case.awaiting_action, case.awaiting_party),
                      due_date=case.due_on, **money)
        case.awaiting_key = case.awaiting_action = case.awaiting_party = None

    try:
        return run_step(case_id, reason, expect=OPEN_STATES,
                        to=S.WITHDRAWN if reason == "withdrawn" else S.EXPIRED, body=body,
                        cause="withdraw" if reason == "withdrawn" else None)
    except (_NotOverdue, CaseClosed):
        return False


# Paid, and KP has not yet handed the dossier to a reviewer: "before handling".
BEFORE_REVIEW = frozenset({S.COMPLETENESS_CHECK, S.AWAITING_COMPLETION})


def _payment_on_closing(step: Step) -> dict[str, Any]:
    """What happens to a paid re-registration fee when the case closes early (withdrawn, or
    expired waiting for the practitioner), as the register's policy says: a credit note if it
    is closed before the review and the policy credits it, else the fee stays paid; the mail
    says which. Empty if nothing was paid."""
    paid = get_invoice(session=step.session, case_id=step.case_id,
                       kind=InvoiceKind.REREGISTRATION)
    if paid is None or paid.status is not InvoiceStatus.PAID:
        return {"credit_number": None, "credit_amount": None, "kept_amount": None, "attach": []}
    if step.policy.fees.credit_on_withdrawal and step.case.state in BEFORE_REVIEW:
        note, paper = _credit_paper(step, paid)
        return {"credit_number": note.number, "credit_amount": note.amount,
                "kept_amount": None, "attach": [paper]}
    return {"credit_number": None, "credit_amount": None, "kept_amount": paid.amount,
            "register_address": get_settings().addresses.register_office, "attach": []}


class _NotOverdue(Exception):
    """The pause was answered in time or is not due yet: the step is abandoned (rolled back)."""


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


def note_run_stopped(case_id: int, flow_run_id: str, state: str, message: str) -> None:
    """Writes down, once per run, that the case's run stopped before the case ended."""
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        key = f"run-stopped:{flow_run_id}"
        if case.state.is_closed or get_event(session=session, case_id=case_id, key=key):
            return
        add_note(session=session, case=case, key=key, action="run_stopped",
                 data={"state": state, "message": message[:300]})
