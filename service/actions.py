"""Acting on a case: the one entry point for the CLI, the web pages, the API and the demo.

Check the actor's role and the pause the decision answers, validate and record it with the
actor in one transaction, then hand it to the case's run. The hand-over is a courtesy: if the
run is busy, lost or Prefect cannot be reached, the decision is already recorded and the
sweep's reconciler delivers it, so the caller is told "recorded", never an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from pydantic import BaseModel, EmailStr, Field
from sqlmodel import Session

from domain import messages as m
from domain.decisions import Decision, Withdrawal
from domain.errors import DecisionConflict, InvalidInput, InvalidTransition, NotAllowed, Unavailable
from domain.procedure import DECISIONS, PAUSE_BY_ACTION, STAGE
from domain.states import CaseState, Role
from models.case import Case, CaseEvent, EventKind, find_case, get_case
from models.counter import next_number
from models.db import DATABASE_DOWN, read_session, session_scope
from models.document import Document
from models.practitioner import Practitioner, PractitionerCreate, get_by_kp_number
from models.registration import Registration, RegistrationStatus, latest_registration
from policies import Evidence
from service.actors import MAY_RESTART, Actor
from service.claims import check_claim
from service.documents import Upload, store
from service.eligibility import check_eligible, register_policy
from service.progress import Phase, case_progress
from service.validation import KP_NUMBER, parse_input, same_text
from settings import get_settings
from tasks.decisions import record_decision
from tasks.reconcile import Cause, attach_run, restart_run
from tasks.runs import PREFECT_DOWN, Resume, resume_run, start_closure_run


@dataclass(frozen=True)
class Outcome:
    case_id: int
    number: str
    state: CaseState
    delivered: bool
    message: str


class CaseRequest(BaseModel):
    """R5: what the practitioner's e-mail to the association brings."""

    kp_number: str = Field(pattern=KP_NUMBER, description="KP-nummer: 5 tot 9 cijfers")
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    member: bool
    specialisation: str = Field(max_length=10)
    request_date: date
    evidence: Evidence = Evidence()
    previous_period_start: date | None = Field(
        None, description="start of the lapsed period, if KP's register does not hold it yet"
    )


async def open_case(data: dict[str, Any], *, actor: Actor,
                    documents: Sequence[Upload] = ()) -> Outcome:
    """Registers the request, with the files sent with it, and starts its run. R4: only a
    lapsed specialisation qualifies. A known KP number keeps its name and e-mail: a request
    that differs is refused, since changing them is a staff action of its own
    (`change_identity`)."""
    clicked = time.monotonic()
    request: CaseRequest = parse_input(CaseRequest, data)
    policy = register_policy(request.specialisation)
    code = policy.code
    with session_scope() as session:
        practitioner = _practitioner(session, request)
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
        check_eligible(session, policy=policy, registration=registration,
                       on=request.request_date)
        registration.status, registration.visible = RegistrationStatus.LAPSED, False
        session.add(registration)
        case = Case(
            number=next_number(session=session, series="case", year=request.request_date.year,
                               prefix="HR"),
            practitioner_id=practitioner.id, registration_id=registration.id,
            specialisation=code, request_date=request.request_date,
            evidence=request.evidence.model_dump(mode="json"), run_generation=1,
        )
        session.add(case)
        session.flush()
        assert case.id is not None
        session.add(CaseEvent(
            case_id=case.id, key="open", kind=EventKind.DECISION, actor_role=actor.role,
            actor_name=actor.name, action="open_case", input=request.model_dump(mode="json"),
            to_state=CaseState.REQUESTED,
        ))
        for upload in documents:
            session.add(Document(case_id=case.id, kind=upload.kind, filename=upload.filename,
                                 media_type=upload.media_type, size=len(upload.content),
                                 sha256=store(upload), uploaded_by_role=actor.role,
                                 uploaded_by=actor.name, formula_cells=upload.formula_cells))
        case_id, number = case.id, case.number
    delivered = await _bounded(_attach(case_id, number))  # else the reconciler starts it
    return await _outcome(case_id, number, CaseState.REQUESTED, delivered, None,
                          clicked=clicked)


def _practitioner(session: Session, request: CaseRequest) -> Practitioner:
    found = get_by_kp_number(session=session, kp_number=request.kp_number)
    if found is None:
        found = Practitioner.model_validate(PractitionerCreate(
            kp_number=request.kp_number, name=request.name.strip(), email=str(request.email),
            member=request.member))
    else:
        errors = {}
        if not same_text(found.name, request.name):
            errors["name"] = m.IDENTITY_DIFFERS.format(field="naam", kp=found.kp_number,
                                                       value=found.name)
        if not same_text(found.email, str(request.email)):
            errors["email"] = m.IDENTITY_DIFFERS.format(field="e-mailadres",
                                                        kp=found.kp_number, value=found.email)
        if errors:
            raise InvalidInput(errors)
        found.member = request.member  # membership changes with the year, not identity
    session.add(found)
    session.flush()
    return found


async def act(case_ref: str, action: str, data: dict[str, Any], *, actor: Actor,
              pause_key: str | None = None) -> Outcome:
    """Validate and record one decision, then hand it to the case's run. `pause_key` names the
    step the person saw; if the case has moved on since, the decision is refused rather than
    taken for the next step (a late double click, a stale page)."""
    clicked = time.monotonic()
    kind = DECISIONS.get(action)
    if kind is None:
        raise InvalidInput({"action": m.UNKNOWN_ACTION.format(
            action=action, actions=", ".join(DECISIONS))})
    if actor.role not in kind.roles:
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label, action=kind.title))
    decision: Decision = parse_input(kind, data)
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref, for_update=True)
        key = _awaited_pause(case, kind, pause_key)
        if actor.role is Role.REVIEWER and (
                (actor.reviewer_id is not None and actor.reviewer_id != case.reviewer_id)
                or (actor.review_round is not None and actor.review_round != case.review_round)):
            raise NotAllowed(m.WRONG_REVIEWER)
        check_claim(session, case, actor)
        record = record_decision(session=session, case=case, pause_key=key, decision=decision,
                                 role=actor.role, name=actor.name)
        case_id, number, state = case.id or 0, case.number, case.state
        flow_run_id, run_input, record_id = case.flow_run_id, record.input, record.id
    if kind is Withdrawal:
        delivered = await _bounded(_start_closure(case_id, number, str(record_id)))
    else:
        delivered = await _bounded(_hand_over(flow_run_id, key, run_input, wait_seconds=5))
    return await _outcome(case_id, number, state, delivered, key, clicked=clicked)


async def _outcome(case_id: int, number: str, state: CaseState, delivered: bool,
                   answered: str | None, *, clicked: float) -> Outcome:
    """Waits until `prefect.click_wait_seconds` after the click at most (recording and the
    hand-over count) for the run to take the step, so the person who clicked sees the new
    state and the next step; past that, "being processed"."""
    if delivered:
        deadline = clicked + get_settings().prefect.click_wait_seconds
        while True:
            try:
                with read_session() as session:
                    case = get_case(session=session, case_id=case_id)
                    if case.state.is_closed or case.awaiting_key not in (None, answered):
                        return Outcome(case_id=case_id, number=number, state=case.state,
                                       delivered=True, message=done_message(case))
            except DATABASE_DOWN:
                break  # recorded and handed over: say so, not that the database is down
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.1)
    return Outcome(case_id=case_id, number=number, state=state, delivered=delivered,
                   message=m.RECEIVED_PENDING if delivered else m.RECEIVED_QUEUED)


def done_message(case: Case) -> str:
    """What the click led to, in words: the pause the case reached and the step that comes
    next, or how it closed (domain/procedure.py)."""
    upcoming = PAUSE_BY_ACTION.get(case.awaiting_action or "")
    done = STAGE[case.state].done if case.state.is_closed else \
        upcoming.reached if upcoming else None
    return m.PROCESSED.format(done=done or m.NOW_AT.format(label=case.state.label)) + (
        m.NEXT_UP.format(title=upcoming.decision.title)
        if upcoming and not case.state.is_closed else "")


async def _bounded(handing_over: Coroutine[Any, Any, bool]) -> bool:
    """A click waits for Prefect `prefect.handover_seconds` at most: a loaded server can take a
    minute of retries. False leaves the recorded work to the reconciler; a hand-over cut off
    half way is safe, as runs are started under idempotency keys and resumed only at their
    pause."""
    try:
        async with asyncio.timeout(get_settings().prefect.handover_seconds):
            return await handing_over
    except TimeoutError:
        return False


async def _attach(case_id: int, number: str) -> bool:
    try:
        await attach_run(case_id, number, 1)
    except PREFECT_DOWN:
        return False
    return True


async def _start_closure(case_id: int, number: str, attempt: str) -> bool:
    try:
        await start_closure_run(case_id, number, "withdrawn", attempt)
    except PREFECT_DOWN:
        return False
    return True


async def _hand_over(flow_run_id: str | None, pause_key: str, run_input: dict[str, Any], *,
                     wait_seconds: float) -> bool:
    """Resumes the run if it waits at the pause, waiting a little for a run still on its way
    there. False leaves the decision to the reconciler (it is recorded either way)."""
    if flow_run_id is None:
        return False
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            outcome = await resume_run(flow_run_id, pause_key, run_input)
        except httpx.ConnectError:
            return False  # nobody home: the reconciler delivers it later
        except PREFECT_DOWN:
            outcome = Resume.NOT_THERE  # a server under load fails some calls: try again
        if outcome not in (Resume.NOT_THERE, Resume.NOT_READY):
            return outcome is Resume.RESUMED
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.25)


def _awaited_pause(case: Case, kind: type[Decision], pause_key: str | None) -> str:
    """The pause this decision answers, or a Dutch refusal naming the current state."""
    if case.state.is_closed:
        raise InvalidTransition(m.CASE_CLOSED.format(label=case.state.label), state=case.state)
    if kind is Withdrawal:
        return "withdraw"
    if pause_key is not None and pause_key != case.awaiting_key:
        raise DecisionConflict(m.STEP_MOVED_ON.format(label=case.state.label))
    if case.awaiting_action != kind.action or case.awaiting_key is None:
        awaited = DECISIONS.get(case.awaiting_action or "")
        raise InvalidTransition(
            m.NOT_AWAITED.format(action=kind.title,
                                 awaited=awaited.title if awaited else case.state.label)
            if awaited else m.WRONG_STATE.format(state=case.state, label=case.state.label),
            state=case.state,
        )
    return case.awaiting_key


async def restart_case(case_ref: str, *, actor: Actor) -> Outcome:
    """KP's repair action for a stuck case (marked by the reconciler, or waiting too long for
    whatever reason, the sweep's absence included): a fresh run, a new count. It needs no
    sweep: the run is started here."""
    if actor.role not in MAY_RESTART:
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label,
                                                   action=m.RESTART_TITLE))
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref)
        if case.state.is_closed:
            raise InvalidTransition(m.CASE_CLOSED.format(label=case.state.label),
                                    state=case.state)
        if case_progress(session, case).phase is not Phase.STUCK:
            raise InvalidTransition(m.NOT_STUCK, state=case.state)
        case_id, number, state = case.id or 0, case.number, case.state
        generation, flow_run_id = case.run_generation, case.flow_run_id
    try:
        done = await restart_run(case_id, generation=generation, flow_run_id=flow_run_id,
                                 cause=Cause.STAFF_RESTART, role=actor.role, name=actor.name)
    except PREFECT_DOWN as err:
        raise Unavailable(m.PREFECT_UNAVAILABLE) from err
    if done not in ("restarted", "queued"):
        raise DecisionConflict(m.ALREADY_DECIDED)
    return Outcome(case_id=case_id, number=number, state=state, delivered=done == "restarted",
                   message=m.RESTARTED if done == "restarted" else m.RESTARTED_LATER)
