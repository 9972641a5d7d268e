"""The reconciler, run by the sweep: our database says what each open case awaits, Prefect
says what the case's run is doing. Where they disagree, the case is repaired, one case at a
time: a decision the run never got is handed to it, and a run that is lost, dead, hanging or
unable to take its input is replaced by a fresh run that replays to the awaited pause through
the step ledger. After `repair.max_attempts` fresh runs without progress the case is marked
stuck for staff, who can restart it; it is never left looking as if it were being processed.
A stuck case is still retried now and then (`repair.stuck_retry_minutes`), so a cause that
went away heals it, and its next step clears the mark.

`plan_repair` decides from two snapshots and the clock alone, so every rule is testable
without a server; the rest reads the snapshots and carries the plan out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlmodel import Session, col, select

from domain import messages as m
from domain.states import CLOSED_STATES, Role
from models.case import Case, add_note, get_case, get_event
from models.db import read_session, session_scope, utcnow
from models.decision import unconsumed
from settings import RepairSettings, get_settings
from tasks.runs import (
    MISSING,
    PREFECT_DOWN,
    Resume,
    RunPhase,
    RunView,
    observe_runs,
    resume_run,
    start_case_run,
    stop_run,
)


class Cause(StrEnum):
    UNDELIVERED = "undelivered"
    RUN_MISSING = "run_missing"
    RUN_ENDED = "run_ended"
    ZOMBIE = "zombie"
    STALLED = "stalled"
    WRONG_PAUSE = "wrong_pause"
    RESUME_REFUSED = "resume_refused"
    STAFF_RESTART = "staff_restart"
    WITHDRAWAL = "withdrawal"


class Action(StrEnum):
    RESUME = "resume"  # hand the recorded decision to the run paused for it
    RESTART = "restart"  # replace the run by a fresh one
    CLOSE = "close"  # carry out a recorded withdrawal (the sweep runs the closure itself)


@dataclass(frozen=True)
class CaseView:
    """What the database says an open case awaits."""

    case_id: int
    number: str
    flow_run_id: str | None
    generation: int
    awaiting_key: str | None
    updated_at: datetime
    decision: dict[str, Any] | None = None  # unconsumed decision for the awaited pause
    decided_at: datetime | None = None
    withdrawn_at: datetime | None = None  # an unconsumed withdrawal


@dataclass(frozen=True)
class Repair:
    case_id: int
    action: Action
    cause: Cause
    generation: int
    flow_run_id: str | None
    detail: str = ""
    run_since: datetime | None = None  # when the run entered the state it was seen in


def plan_repair(case: CaseView, run: RunView, now: datetime, limits: RepairSettings,
                ) -> Repair | None:
    """What to do about one case, or None if case and run agree (or a person must act)."""
    settle = timedelta(seconds=limits.settle_seconds)

    def repair(action: Action, cause: Cause, detail: str = "") -> Repair:
        return Repair(case.case_id, action, cause, case.generation, case.flow_run_id, detail,
                      run.since)

    if case.withdrawn_at is not None:
        return repair(Action.CLOSE, Cause.WITHDRAWAL) if now - case.withdrawn_at > settle else None
    if run.phase is RunPhase.MISSING:
        # A run being started right now has no id yet (a busy server takes its time to create
        # one): give its starter as long as a run may take to start.
        starting = timedelta(seconds=limits.pending_seconds)
        return repair(Action.RESTART, Cause.RUN_MISSING) if now - case.updated_at > starting \
            else None
    if run.phase is RunPhase.ENDED:
        return repair(Action.RESTART, Cause.RUN_ENDED, run.state_name)
    age = now - run.since if run.since is not None else timedelta(0)
    if run.phase is RunPhase.RUNNING and run.last_sign is not None \
            and now - run.last_sign > timedelta(seconds=limits.zombie_seconds):
        return repair(Action.RESTART, Cause.ZOMBIE, run.state_name)
    stalled = {RunPhase.PENDING: limits.pending_seconds,
               RunPhase.CANCELLING: limits.pending_seconds,
               RunPhase.RUNNING: limits.running_seconds}.get(run.phase)
    if stalled is not None and age > timedelta(seconds=stalled):
        return repair(Action.RESTART, Cause.STALLED, run.state_name)
    if run.phase is not RunPhase.PAUSED:
        return None  # queued or busy: the run is on its way
    if case.awaiting_key is None or run.pause_key != case.awaiting_key:
        return repair(Action.RESTART, Cause.WRONG_PAUSE, run.pause_key or "")
    if case.decided_at is not None and now - case.decided_at > settle:
        return repair(Action.RESUME, Cause.UNDELIVERED)
    return None


def _views(session: Session, case_ids: Iterable[int] | None = None) -> dict[int, CaseView]:
    statement = select(Case).where(col(Case.state).not_in(CLOSED_STATES))
    if case_ids is not None:
        statement = statement.where(col(Case.id).in_(list(case_ids)))
    cases = {c.id: c for c in session.exec(statement) if c.id is not None}
    pending = unconsumed(session=session, case_ids=list(cases))
    views = {}
    for case_id, case in cases.items():
        records = {r.pause_key: r for r in pending.get(case_id, [])}
        awaited = records.get(case.awaiting_key or "")
        withdrawal = records.get("withdraw")
        views[case_id] = CaseView(
            case_id=case_id, number=case.number, flow_run_id=case.flow_run_id,
            generation=case.run_generation, awaiting_key=case.awaiting_key,
            updated_at=case.updated_at,
            decision=awaited.input if awaited else None,
            decided_at=awaited.recorded_at if awaited else None,
            withdrawn_at=withdrawal.recorded_at if withdrawal else None,
        )
    return views


async def plan_repairs(case_ids: Iterable[int] | None = None) -> list[Repair]:
    """Plans for the open cases (or those given). Prefect is asked before the database is read
    again, so a run seen paused is never compared with a case older than that pause."""
    with read_session() as session:
        run_ids = {v.flow_run_id for v in _views(session, case_ids).values() if v.flow_run_id}
    runs = await observe_runs(sorted(run_ids))
    now, limits = utcnow(), get_settings().repair
    with read_session() as session:
        views = _views(session, case_ids)
    plans = []
    for view in views.values():
        if view.flow_run_id is not None and view.flow_run_id not in runs:
            continue  # the case got a new run in between: look again next time
        run = runs[view.flow_run_id] if view.flow_run_id else MISSING
        plan = plan_repair(view, run, now, limits)
        if plan is not None:
            plans.append(plan)
    return plans


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
async def repair_case(plan: Repair) -> str:
    """Carries out one plan after checking it still holds; returns what happened."""
    again = await plan_repairs([plan.case_id])
    if not again or again[0] != plan:
        return "settled"
    if plan.action is Action.RESUME:
        with read_session() as session:
            case = get_case(session=session, case_id=plan.case_id)
            records = unconsumed(session=session, case_ids=[plan.case_id])
        awaited = {r.pause_key: r for r in records.get(plan.case_id, [])}.get(
            case.awaiting_key or "")
        if awaited is None or plan.flow_run_id is None:
            return "settled"
        outcome = await resume_run(plan.flow_run_id, awaited.pause_key, awaited.input)
        if outcome is Resume.RESUMED:
            return "resumed"
        settle = timedelta(seconds=get_settings().repair.settle_seconds)
        paused_long = plan.run_since is not None and utcnow() - plan.run_since > settle
        if outcome is Resume.NOT_THERE or (outcome is Resume.NOT_READY and not paused_long):
            return "settled"
    cause = plan.cause if plan.action is Action.RESTART else Cause.RESUME_REFUSED
    return await restart_run(plan.case_id, generation=plan.generation,
                             flow_run_id=plan.flow_run_id, cause=cause, detail=plan.detail)


def cause_text(cause: Cause, detail: str = "") -> str:
    return m.REPAIR_CAUSES[cause].format(state=detail or "onbekend")


async def restart_run(case_id: int, *, generation: int, flow_run_id: str | None, cause: Cause,
                      detail: str = "", role: Role = Role.SYSTEM, name: str = "workflow") -> str:
    """Replace the case's run by a fresh one under the next generation key, if the case still
    has the run the caller saw. The reconciler's restarts count towards the case's limit, after
    which the case is marked stuck instead; a staff restart starts the count afresh. "queued":
the case is repaired but Prefect did not take the new run yet; the next sweep starts it."""
    by_staff = cause is Cause.STAFF_RESTART
    limits, now = get_settings().repair, utcnow()
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if case.state.is_closed or case.run_generation != generation \
                or case.flow_run_id != flow_run_id:
            return "settled"
        if not by_staff and case.repair_attempts >= limits.max_attempts:
            if case.stuck_reason is None:
                case.stuck_reason = m.STUCK.format(cause=cause_text(cause, detail),
                                                   attempts=case.repair_attempts)
                case.stuck_since = now
                add_note(session=session, case=case, key=f"stuck:{generation}", action="stuck",
                         data={"cause": cause.value, "detail": detail})
            if case.stuck_since is None \
                    or now - case.stuck_since < timedelta(minutes=limits.stuck_retry_minutes):
                session.add(case)
                return "stuck"
            case.stuck_since = now  # one more try now, the next after another interval
            session.add(case)
    if flow_run_id is not None:
        await stop_run(flow_run_id, reason=cause_text(cause, detail))
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        if case.run_generation != generation or case.flow_run_id != flow_run_id:
            return "settled"
        case.run_generation = generation + 1
        if by_staff:
            case.repair_attempts, case.stuck_reason, case.stuck_since = 0, None, None
        else:
            case.repair_attempts += 1
        case.flow_run_id, case.updated_at = None, utcnow()
        add_note(session=session, case=case, key=f"repair:{generation + 1}", action="repair",
                 role=role, name=name, data={"cause": cause.value, "detail": detail,
                                             "previous_run": flow_run_id})
        session.add(case)
        number = case.number
    try:
        await attach_run(case_id, number, generation + 1)
    except PREFECT_DOWN:
        return "queued"  # no run yet: the next sweep starts it (cause run_missing)
    return "restarted"


async def attach_run(case_id: int, number: str, generation: int) -> None:
    """Starts the run of this generation and records it on the case; a run whose generation
    was overtaken meanwhile is stopped again, so a case never has two live runs for long."""
    flow_run_id = await start_case_run(case_id, number, generation)
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        current = case.run_generation == generation and not case.state.is_closed
        if current:
            case.flow_run_id = flow_run_id
            session.add(case)
    if not current:
        await stop_run(flow_run_id, reason="vervangen door een nieuwere run")


def note_run_stopped(case_id: int, flow_run_id: str, state: str, message: str) -> None:
    """Writes down, once per run, that the case's run stopped before the case ended."""
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        key = f"run-stopped:{flow_run_id}"
        if case.state.is_closed or get_event(session=session, case_id=case_id, key=key):
            return
        add_note(session=session, case=case, key=key, action="run_stopped",
                 data={"state": state, "message": message[:300]})
