"""Acting on a case: the one entry point for the CLI, the web pages, the API and the demo.

Check the actor's role and the case's current pause, validate, record the decision with the
actor in one transaction, then resume the suspended run with the typed input. If Prefect
cannot be reached the decision stays recorded and the sweep delivers it later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from prefect.exceptions import PrefectHTTPStatusError
from pydantic import BaseModel, EmailStr, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from domain import messages as m
from domain.errors import (
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    RegistrationNotLapsed,
)
from domain.states import CaseState, Role
from flows.inputs import DECISIONS, Decision, Withdrawal
from models.case import Case, CaseEvent, EventKind, find_case, get_case, get_event
from models.counter import next_number
from models.db import session_scope
from models.practitioner import PractitionerCreate, upsert_practitioner
from models.registration import Registration, RegistrationStatus, latest_registration
from models.staff import StaffUser
from policies import Evidence, load_policy
from service.validation import dutch_errors
from settings import get_settings
from tasks.decisions import record_decision, validate_decision
from tasks.rendering import format_date
from tasks.runs import deliver_decision, start_case_run

PREFECT_UNREACHABLE = (httpx.HTTPError, PrefectHTTPStatusError, OSError)


@dataclass(frozen=True)
class Actor:
    role: Role
    name: str
    reviewer_id: int | None = None
    staff_id: int | None = None


@dataclass(frozen=True)
class Outcome:
    case_id: int
    number: str
    state: CaseState
    delivered: bool
    message: str


class CaseRequest(BaseModel):
    """R5: what the practitioner's e-mail to the association brings."""

    kp_number: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    member: bool
    specialisation: str
    request_date: date
    evidence: Evidence = Evidence()
    previous_period_start: date | None = Field(
        None, description="start of the lapsed period, if KP's register does not hold it yet"
    )


def _parse(kind: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return kind.model_validate(data)
    except ValidationError as err:
        raise InvalidInput(dutch_errors(err)) from err


async def open_case(data: dict[str, Any], *, actor: Actor) -> Outcome:
    """Registers the request and starts its run. R4: only a lapsed specialisation qualifies."""
    request: CaseRequest = _parse(CaseRequest, data)
    code = request.specialisation.upper()
    if code not in {"KOT", "BOT", "PSOT", "GOT"}:
        raise InvalidInput({"specialisation": m.FIELD_CHOICE.format(choices="KOT, BOT, PSOT, GOT")})
    policy = load_policy(code)
    with session_scope() as session:
        practitioner = upsert_practitioner(session=session, data=PractitionerCreate(
            kp_number=request.kp_number, name=request.name, email=str(request.email),
            member=request.member,
        ))
        assert practitioner.id is not None
        registration = latest_registration(session=session, practitioner_id=practitioner.id,
                                           specialisation=code)
        if registration is None:
            if request.previous_period_start is None:
                raise InvalidInput({"previous_period_start": m.NO_REGISTRATION.format(
                    specialisation=policy.name, kp=request.kp_number)})
            start = request.previous_period_start
            registration = Registration(
                practitioner_id=practitioner.id, specialisation=code, period_start=start,
                period_end=policy.period_end(start), status=RegistrationStatus.ACTIVE,
            )
            session.add(registration)
            session.flush()
        if not policy.is_lapsed(registration.period_end, request.request_date):
            deadline = policy.submission_deadline(registration.period_end)
            raise RegistrationNotLapsed(m.NOT_LAPSED.format(
                specialisation=policy.name, deadline=format_date(deadline)))
        registration.status, registration.visible = RegistrationStatus.LAPSED, False
        session.add(registration)
        running = session.exec(select(Case).where(
            Case.practitioner_id == practitioner.id, Case.specialisation == code,
        )).all()
        for other in running:
            if not other.state.is_closed:
                raise InvalidTransition(m.OPEN_CASE_EXISTS.format(
                    number=other.number, specialisation=policy.name), state=other.state)
        case = Case(
            number=next_number(session=session, series="case", year=request.request_date.year,
                               prefix="HR"),
            practitioner_id=practitioner.id, registration_id=registration.id,
            specialisation=code, request_date=request.request_date,
            evidence=request.evidence.model_dump(mode="json"),
        )
        session.add(case)
        session.flush()
        assert case.id is not None
        session.add(CaseEvent(
            case_id=case.id, key="open", kind=EventKind.DECISION, actor_role=actor.role,
            actor_name=actor.name, action="open_case", input=request.model_dump(mode="json"),
            to_state=CaseState.REQUESTED,
        ))
        case_id, number = case.id, case.number
    delivered = await _start(case_id)
    return Outcome(case_id=case_id, number=number, state=CaseState.REQUESTED,
                   delivered=delivered,
                   message=m.RECEIVED_PENDING if delivered else m.RECEIVED_QUEUED)


async def _start(case_id: int) -> bool:
    try:
        flow_run_id = await start_case_run(case_id)
    except PREFECT_UNREACHABLE:
        return False
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        case.flow_run_id = flow_run_id
        session.add(case)
    return True


async def act(case_ref: str, action: str, data: dict[str, Any], *, actor: Actor) -> Outcome:
    """Validate and record one decision, then resume the case's run with it."""
    kind = DECISIONS.get(action)
    if kind is None:
        raise InvalidInput({"action": m.UNKNOWN_ACTION.format(
            action=action, actions=", ".join(DECISIONS))})
    if actor.role not in kind.roles:
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label, action=kind.title))
    decision: Decision = _parse(kind, data)
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref)
        case = get_case(session=session, case_id=case.id or 0, for_update=True)
        pause_key = _awaited_pause(case, kind)
        if (actor.role is Role.REVIEWER and actor.reviewer_id is not None
                and actor.reviewer_id != case.reviewer_id):
            raise NotAllowed(m.WRONG_REVIEWER)
        _check_claim(session, case, actor)
        if get_event(session=session, case_id=case.id or 0,
                     key=f"decision:{pause_key}") is not None:
            raise DecisionConflict(m.ALREADY_DECIDED)
        errors = validate_decision(case=case, decision=decision,
                                   today=get_settings().current_date())
        if errors:
            raise InvalidInput(errors)
        try:
            record_decision(session=session, case=case, pause_key=pause_key, decision=decision,
                            role=actor.role, name=actor.name)
            session.flush()
        except IntegrityError as err:
            raise DecisionConflict(m.ALREADY_DECIDED) from err
        case_id, number, state = case.id or 0, case.number, case.state
    try:
        delivered = await deliver_decision(case_id, pause_key, wait_seconds=5)
    except PREFECT_UNREACHABLE:
        delivered = False
    return Outcome(case_id=case_id, number=number, state=state, delivered=delivered,
                   message=m.RECEIVED_PENDING if delivered else m.RECEIVED_QUEUED)


def _awaited_pause(case: Case, kind: type[Decision]) -> str:
    """The pause this decision answers, or a Dutch refusal naming the current state."""
    if case.state.is_closed:
        raise InvalidTransition(m.CASE_CLOSED.format(label=case.state.label), state=case.state)
    if kind is Withdrawal:
        return "withdraw"
    if case.awaiting_action != kind.action or case.awaiting_key is None:
        awaited = DECISIONS.get(case.awaiting_action or "")
        raise InvalidTransition(
            m.NOT_AWAITED.format(action=kind.title,
                                 awaited=awaited.title if awaited else case.state.label)
            if awaited else m.WRONG_STATE.format(state=case.state, label=case.state.label),
            state=case.state,
        )
    return case.awaiting_key


def _check_claim(session: Session, case: Case, actor: Actor) -> None:
    """A case claimed by one staff member is not decided by another meanwhile."""
    if case.claimed_by_id is None or actor.staff_id is None:
        return
    if case.claimed_by_id != actor.staff_id:
        holder = session.get(StaffUser, case.claimed_by_id)
        raise DecisionConflict(m.CLAIMED_BY_OTHER.format(name=holder.name if holder else "?"))


def claim(case_ref: str, *, actor: Actor, release: bool = False) -> Case:
    """Take (or give back) a case so two people do not work on it at once."""
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref)
        case = get_case(session=session, case_id=case.id or 0, for_update=True)
        if release:
            if case.claimed_by_id == actor.staff_id:
                case.claimed_by_id = None
        else:
            _check_claim(session, case, actor)
            case.claimed_by_id = actor.staff_id
        session.add(case)
        return case
