"""The steps of the plan (seed 001), each a Prefect task that applies one transition with
everything written with it: mails, invoices and their papers, the certificate, the intake
call's calendar entries. The engine that applies a step once is tasks/transitions.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlmodel import Session

from adapters.blobs import store_blob
from adapters.links import dossier_url, payment_url, staff_case_url
from adapters.papers import (
    PDF,
    Attachment,
    credit_note_paper,
    intake_invitation,
    invoice_paper,
    register_entry_url,
    render_pdf,
)
from domain.errors import CaseClosed
from domain.formatting import AMSTERDAM, format_euro
from domain.messages import INTAKE_CANCELLED_CLOSED, INTAKE_CANCELLED_OUTCOME, INTAKE_FEE_LINE
from domain.procedure import ADDITIONS, COMPLETION, FINDINGS, PAYMENT, SUBMISSION, awaited
from domain.states import HELD_TO_DEADLINE, CaseState
from models.case import Case, case_verdict
from models.certificate import Certificate
from models.counter import next_number
from models.db import utcnow
from models.decision import get_decision
from models.document import case_documents
from models.intake import IntakeSlot, chosen_slot, offer_round
from models.invoice import (
    CreditNote,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    get_invoice,
    issue_credit_note,
    issue_invoice,
)
from models.registration import Registration, RegistrationStatus, latest_registration
from models.review import Review, ReviewOutcome, get_review, get_reviewer, upsert_reviewer
from settings import get_settings
from tasks.retrying import case_task
from tasks.transitions import OPEN_STATES, Step, run_step

S = CaseState


def _invoice_paper(step: Step, invoice: Invoice, description: str, supplied_on: date | None,
                   due_on: date) -> Attachment:
    """The invoice's PDF, kept with the invoice as mailed."""
    invoice.due_on = due_on
    paper = invoice_paper(invoice, case_number=step.case.number, customer=step.practitioner,
                          description=description, supplied_on=supplied_on)
    invoice.pdf_sha256 = store_blob(paper.content)
    step.session.add(invoice)
    return paper


def _credit_paper(step: Step, invoice: Invoice) -> tuple[CreditNote, Attachment]:
    """A paid re-registration withdrawn before its review: the invoice credited in full."""
    note = issue_credit_note(session=step.session, invoice=invoice, issued_on=step.today)
    paper = credit_note_paper(
        note, invoice, case_number=step.case.number, customer=step.practitioner,
        description=f"Creditering herregistratie specialisatie {step.policy.name}",
        supplied_on=step.case.submitted_on or invoice.issued_on)
    note.pdf_sha256 = store_blob(paper.content)
    step.session.add(note)
    return note, paper


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


# The intake call in both calendars (R7): the invitation when the practitioner picks a time,
# and its cancellation when the call will not happen at that time (VvOCM moves it, records the
# outcome before it, or the case closes first). One appointment per case: the same UID
# throughout (RFC 5545), a higher SEQUENCE with every change, METHOD:REQUEST for an invitation
# and METHOD:CANCEL for a cancellation, so calendars replace or remove the entry instead of
# keeping the old one beside the new. Offer round `n` has its invitation at SEQUENCE 2(n-1)
# and its cancellation at 2(n-1)+1.

def _uid(case: Case) -> str:
    return f"startgesprek-{case.number}@{get_settings().smtp.message_id_domain}"


def _calendar(step: Step, slot: IntakeSlot, *, sequence: int, cancel: bool,
              fee_line: str) -> Attachment:
    return intake_invitation(
        uid=_uid(step.case), starts_at=slot.starts_at, minutes=slot.minutes,
        video_link=slot.video_link, sequence=sequence, cancel=cancel,
        summary=f"Startgesprek herregistratie {step.policy.name} ({step.case.number})",
        description="\n".join(line for line in (
            f"Online startgesprek met de VvOCM over uw herregistratie {step.policy.name}.",
            f"Deelnemen: {slot.video_link}", fee_line) if line),
        organizer=get_settings().addresses.association, attendee=step.practitioner.email,
        stamp=utcnow())


def fee_line(session: Session, case_id: int) -> str:
    invoice = get_invoice(session=session, case_id=case_id, kind=InvoiceKind.INTAKE)
    return "" if invoice is None else INTAKE_FEE_LINE.format(fee=format_euro(invoice.amount),
                                                             number=invoice.number)


def invite(step: Step, slot: IntakeSlot, offer: int) -> None:
    """Both sides get the call as an invitation for their calendar."""
    line = fee_line(step.session, step.case_id)
    invitation = _calendar(step, slot, sequence=2 * (offer - 1), cancel=False, fee_line=line)
    context = {"starts_at": slot.starts_at.astimezone(AMSTERDAM),
               "ends_at": (slot.starts_at + timedelta(minutes=slot.minutes))
               .astimezone(AMSTERDAM), "video_link": slot.video_link, "fee_line": line}
    step.mail("intake_call_planned", "practitioner", attach=[invitation], **context)
    step.mail("intake_slot_chosen", "association", attach=[invitation], **context)


def cancel_planned_call(step: Step, *, reason: str, now: datetime | None = None) -> bool:
    """If a picked time still lies ahead, both calendars get its cancellation and both sides
    a mail saying why; True if so. Idempotent through the step's mail keys."""
    slot = chosen_slot(step.session, step.case_id)
    if slot is None or slot.starts_at <= (now or get_settings().current_moment()):
        return False
    offer = max(offer_round(step.session, step.case_id), 1)
    cancellation = _calendar(step, slot, sequence=2 * (offer - 1) + 1, cancel=True,
                             fee_line="")
    context = {"starts_at": slot.starts_at.astimezone(AMSTERDAM), "reason": reason}
    step.mail("intake_call_cancelled", "practitioner", attach=[cancellation], **context)
    step.mail("intake_call_cancelled_association", "association", attach=[cancellation],
              **context)
    return True


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

