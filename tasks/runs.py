"""The Prefect API boundary: start a case's run, resume it with a decision, cancel it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import httpx
from prefect import get_client, task
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Cancelled
from sqlmodel import col, select

from domain.states import CLOSED_STATES
from models.case import Case, CaseEvent, EventKind, get_case, get_event
from models.db import session_scope, utcnow
from settings import get_settings


async def start_case_run(case_id: int) -> str:
    """Idempotent per case: a retry after a lost response finds the same run."""
    run = await arun_deployment(
        get_settings().prefect.deployment, parameters={"case_id": case_id}, timeout=0,
        idempotency_key=f"case-{case_id}", tags=[f"case:{case_id}"],
    )
    return str(run.id)


async def start_closure_run(case_id: int, reason: str) -> str:
    run = await arun_deployment(
        get_settings().prefect.closure_deployment,
        parameters={"case_id": case_id, "reason": reason}, timeout=0,
        idempotency_key=f"close-{case_id}", tags=[f"case:{case_id}"],
    )
    return str(run.id)


async def resume_case_run(flow_run_id: str, pause_key: str, run_input: dict[str, Any]) -> bool:
    """Resumes the run if it waits at `pause_key`. False if it is not (yet) paused there,
    e.g. still running towards the pause; the caller keeps the decision pending."""
    async with get_client() as client:
        run = await client.read_flow_run(UUID(flow_run_id))
        state = run.state
        if state is None or not state.is_paused() or state.state_details.pause_key != pause_key:
            return False
        await client.resume_flow_run(UUID(flow_run_id), run_input=run_input)
        after = await client.read_flow_run(UUID(flow_run_id))
    return not (after.state and after.state.is_paused())


async def _try_resume(flow_run_id: str, pause_key: str, run_input: dict[str, Any]) -> bool:
    """A Prefect server under load (SQLite: "database is locked") fails some calls; within the
    caller's wait window that is worth another try, like a run still on its way to the pause."""
    try:
        return await resume_case_run(flow_run_id, pause_key, run_input)
    except (httpx.HTTPError, PrefectHTTPStatusError):
        return False


async def cancel_run(flow_run_id: str) -> None:
    """Stops a suspended (or running) case run; a run already gone is fine."""
    async with get_client() as client:
        try:
            run = await client.read_flow_run(UUID(flow_run_id))
        except ObjectNotFound:
            return
        if run.state and not run.state.is_final():
            await client.set_flow_run_state(UUID(flow_run_id), Cancelled(), force=True)


async def run_state(flow_run_id: str) -> str | None:
    async with get_client() as client:
        run = await client.read_flow_run(UUID(flow_run_id))
    return run.state.name if run.state else None


async def deliver_decision(case_id: int, pause_key: str, *, wait_seconds: float = 0) -> bool:
    """Hands a recorded decision to Prefect: resumes the case run (or starts the closure run
    for a withdrawal) and marks it delivered. False leaves it pending for the sweep; a run still
    busy on its way to the pause is waited for up to `wait_seconds`."""
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id)
        event = get_event(session=session, case_id=case_id, key=f"decision:{pause_key}")
        if event is None or event.resumed_at is not None:
            return event is not None
        flow_run_id, run_input = case.flow_run_id, event.input
    if pause_key == "withdraw":
        await start_closure_run(case_id, "withdrawn")
    else:
        if flow_run_id is None:
            return False
        deadline = time.monotonic() + wait_seconds
        while not await _try_resume(flow_run_id, pause_key, run_input):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.25)
    with session_scope() as session:
        event = get_event(session=session, case_id=case_id, key=f"decision:{pause_key}")
        assert event is not None
        if event.resumed_at is None:
            event.resumed_at = utcnow()
            session.add(event)
    return True


@task
async def cancel_case_run(case_id: int) -> None:
    """Stops the suspended step-plan run of a case that was just closed."""
    with session_scope() as session:
        flow_run_id = get_case(session=session, case_id=case_id).flow_run_id
    if flow_run_id is not None:
        await cancel_run(flow_run_id)


@task
async def start_missing_runs() -> int:
    """Cases opened while Prefect was unreachable get their run now."""
    with session_scope() as session:
        waiting = [c.id for c in session.exec(
            select(Case).where(Case.flow_run_id == None)  # noqa: E711
        ) if c.id is not None and not c.state.is_closed]
    for case_id in waiting:
        flow_run_id = await start_case_run(case_id)
        with session_scope() as session:
            case = get_case(session=session, case_id=case_id, for_update=True)
            case.flow_run_id = flow_run_id
            session.add(case)
    return len(waiting)


@task
async def resume_pending_decisions() -> int:
    """Decisions recorded while Prefect was unreachable are delivered now."""
    with session_scope() as session:
        rows = session.exec(
            select(CaseEvent, Case).join(Case, col(Case.id) == CaseEvent.case_id).where(
                CaseEvent.kind == EventKind.DECISION, col(CaseEvent.key).startswith("decision:"),
                col(CaseEvent.resumed_at).is_(None), col(Case.state).not_in(CLOSED_STATES),
            )
        )
        pending = [(event.case_id, event.key.removeprefix("decision:")) for event, _ in rows]
    delivered = 0
    for case_id, pause_key in pending:
        delivered += await deliver_decision(case_id, pause_key)
    return delivered


@contextmanager
def configured_api() -> Iterator[None]:
    """Prefect's client reads its own settings; entry points (CLI, web server) point it at
    ours (HERREG_PREFECT__API_URL), so one setting decides where the Prefect server is."""
    with temporary_settings(updates={PREFECT_API_URL: get_settings().prefect.api_url}):
        yield
