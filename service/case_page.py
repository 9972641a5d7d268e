"""The staff case page's facts: the case with its practitioner, evidence, registrations, money,
reviews, mails and history, where its run is, and what the person looking may do now. The
page adds the forms and the words (web/routes/staff.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from domain.decisions import Decision, ReviewerAssignment, Withdrawal
from domain.procedure import DECISIONS, EVIDENCE_STATES
from domain.states import CaseState, Role
from models.case import Case, CaseEvent, case_policy, case_verdict, find_case, history
from models.certificate import get_certificate
from models.document import Document, case_documents
from models.intake import IntakeSlot, case_slots
from models.outbox import MailStatus, OutboxMail, case_mails
from models.practitioner import Practitioner
from models.registration import Registration
from models.review import Reviewer
from policies import RegisterPolicy, Verdict
from service.actors import MAY_COUNT, MAY_PLAN_INTAKE, MAY_RESTART
from service.case_view import CaseDetail, case_detail
from service.claims import claim_holder
from service.comments import comments
from service.history import HistoryRow, staff_history
from service.progress import Phase, Progress, case_progress
from service.read_model import state_path
from settings import get_settings

MAIL_STATUS = {MailStatus.PENDING: "In de wachtrij", MailStatus.SENDING: "Wordt verzonden",
               MailStatus.SENT: "Verzonden", MailStatus.DEAD: "Onbestelbaar"}


@dataclass
class StaffCaseView:
    """What the case page shows a staff member in `role` (staff id `staff_id`)."""

    case: Case
    detail: CaseDetail  # the same facts the API gives
    policy: RegisterPolicy
    verdict: Verdict
    registrations: list[Registration]
    certificate_pdf: bool
    mails: list[OutboxMail]
    dead_mails: list[OutboxMail]
    history: list[HistoryRow]
    system_history: list[HistoryRow]
    comments: list[CaseEvent]
    path: list[CaseState]  # for the step diagram
    progress: Progress
    step: type[Decision] | None  # the decision the case waits for
    may_step: bool
    may_claim: bool
    may_withdraw: bool
    may_restart: bool
    may_plan: bool
    may_count: bool
    reviewers: list[Reviewer]  # to pick from, when the step assigns one
    claimed_by: str
    claimed_by_me: bool
    documents: list[Document]
    slots: list[IntakeSlot]
    now: datetime
    run_url: str | None  # the case's run in Prefect's UI


def staff_case(session: Session, number: str, *, role: Role, staff_id: int | None) \
        -> StaffCaseView:
    """The case page of `number` (CaseNotFound if there is none)."""
    case = find_case(session=session, ref=number)
    case_id = case.id or 0
    events = history(session=session, case_id=case_id)
    mails = case_mails(session=session, case_id=case_id)
    people, system = staff_history(session, case_id, events, mails)
    step = DECISIONS.get(case.awaiting_action or "")
    progress = case_progress(session, case)
    waiting = progress.phase is Phase.WAITING
    withdraw_pending = any(e.key == f"decision:{Withdrawal.action}" for e in events)
    may_step = step is not None and waiting and role in step.roles
    holder = claim_holder(session, case)
    certificate = get_certificate(session=session, case_id=case_id)
    ui = get_settings().prefect.ui_url
    return StaffCaseView(
        case=case, detail=case_detail(session, case, events, mails), policy=case_policy(case),
        verdict=case_verdict(case),
        registrations=list(session.exec(
            select(Registration)
            .where(Registration.practitioner_id == case.practitioner_id,
                   Registration.specialisation == case.specialisation)
            .order_by(col(Registration.period_start).desc()))),
        certificate_pdf=certificate is not None and certificate.pdf_sha256 is not None,
        mails=mails, dead_mails=[mail for mail in mails if mail.status is MailStatus.DEAD],
        history=people, system_history=system, comments=comments(events),
        path=state_path(case, events), progress=progress, step=step, may_step=may_step,
        may_claim=step is not None and role in step.roles and waiting,
        may_withdraw=not case.state.is_closed and not withdraw_pending
        and role in Withdrawal.roles,
        may_restart=progress.phase is Phase.STUCK and role in MAY_RESTART,
        may_plan=case.state is CaseState.INTAKE_CALL and role in MAY_PLAN_INTAKE,
        may_count=case.state in EVIDENCE_STATES and role in MAY_COUNT,
        reviewers=list(session.exec(select(Reviewer).order_by(col(Reviewer.name))))
        if may_step and step is ReviewerAssignment else [],
        claimed_by=holder.name if holder else "",
        claimed_by_me=holder is not None and holder.id == staff_id,
        documents=case_documents(session=session, case_id=case_id),
        slots=case_slots(session=session, case_id=case_id),
        now=get_settings().current_moment(),
        run_url=f"{ui}/runs/flow-run/{case.flow_run_id}" if case.flow_run_id else None)


def case_mail(session: Session, number: str, mail_id: int) -> tuple[Case, OutboxMail]:
    """A mail sent for the case (CaseNotFound, or LookupError if it is not one of its)."""
    case = find_case(session=session, ref=number)
    mail = session.get(OutboxMail, mail_id)
    if mail is None or mail.case_id != case.id:
        raise LookupError(mail_id)
    return case, mail


def mail_status(mail: Any) -> str:
    return MAIL_STATUS[mail.status]


def listed_reviewer(session: Session, reviewer_id: int) -> tuple[str, str] | None:
    """Name and address of a reviewer from the admin's list, if there is one by that id."""
    reviewer = session.get(Reviewer, reviewer_id)
    return (reviewer.name, reviewer.email) if reviewer is not None else None


@dataclass
class CaseSummary:
    """A case in a few lines, with its history as the case page shows it (the CLI's `show`)."""

    number: str
    specialisation: str
    practitioner_name: str
    kp_number: str
    state_label: str
    awaited: str | None  # the decision's title
    due_on: date | None
    history: list[HistoryRow]
    system_history: list[HistoryRow]


def case_summary(session: Session, ref: str) -> CaseSummary:
    """`ref`: a case number or id (CaseNotFound if it names none)."""
    case = find_case(session=session, ref=ref)
    case_id = case.id or 0
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    people, system = staff_history(session, case_id, history(session=session, case_id=case_id),
                                   case_mails(session=session, case_id=case_id))
    awaited = DECISIONS.get(case.awaiting_action or "")
    return CaseSummary(case.number, case.specialisation, practitioner.name,
                       practitioner.kp_number, case.state.label,
                       awaited.title if awaited else None, case.due_on, people, system)
