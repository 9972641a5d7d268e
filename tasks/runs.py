"""The Prefect API boundary: start, observe, resume and stop the runs that execute cases.

A run is disposable: what a case awaits is in our database, and a run that is lost, dead or
cannot take its input is replaced by a fresh one under the case's next generation key
(`case-{id}-{generation}`), which replays to the awaited pause through the step ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import httpx
from prefect import get_client, task
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State
from prefect.client.schemas.responses import SetStateStatus
from prefect.deployments import arun_deployment
from prefect.events.filters import (
    EventFilter,
    EventOccurredFilter,
    EventOrder,
    EventResourceFilter,
)
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from prefect.states import Cancelled, Crashed

from models.case import get_case
from models.db import read_session, utcnow
from settings import get_settings

# What a Prefect server that is down, restarting or overloaded raises at its clients.
PREFECT_DOWN = (httpx.HTTPError, PrefectHTTPStatusError, OSError)


class RunPhase(StrEnum):
    """A run's state, as far as the reconciler cares."""

    MISSING = "missing"
    QUEUED = "queued"  # Scheduled, AwaitingRetry, Resuming, Late: waiting for a worker
    PENDING = "pending"  # a worker took it and is starting its process
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    ENDED = "ended"  # Completed, Failed, Crashed, Cancelled


@dataclass(frozen=True)
class RunView:
    phase: RunPhase
    state_name: str = ""
    pause_key: str | None = None
    since: datetime | None = None
    message: str = ""
    last_sign: datetime | None = None  # a Running run's latest heartbeat or state event


MISSING = RunView(RunPhase.MISSING)


class Resume(StrEnum):
    RESUMED = "resumed"
    NOT_THERE = "not_there"  # not (yet, or no longer) paused at that key: try again later
    # Paused there, but its input form is not stored (yet): Prefect sets the pause before it
    # saves the form, so for a moment this is normal; a pause that stays so never resumes.
    NOT_READY = "not_ready"
    REFUSED = "refused"  # paused there, but Prefect will not take the input: replace the run


async def start_case_run(case_id: int, number: str, generation: int) -> str:
    """Idempotent per case and generation: a retry after a lost response finds the same run."""
    run = await arun_deployment(
        get_settings().prefect.deployment, parameters={"case_id": case_id}, timeout=0,
        idempotency_key=f"case-{case_id}-{generation}", tags=[f"aanvraag:{number}"],
        flow_run_name=f"{number} #{generation}",
        as_subflow=False,  # started by the sweep it must still be able to suspend
    )
    return str(run.id)


async def start_closure_run(case_id: int, number: str, reason: str, attempt: str) -> str:
    run = await arun_deployment(
        get_settings().prefect.closure_deployment,
        parameters={"case_id": case_id, "reason": reason}, timeout=0,
        idempotency_key=f"close-{case_id}-{attempt}", tags=[f"aanvraag:{number}"],
        flow_run_name=f"{number} {reason}", as_subflow=False,
    )
    return str(run.id)


def _view(run: Any) -> RunView:
    state = run.state
    if state is None:
        return RunView(RunPhase.QUEUED)
    if state.is_paused():
        phase = RunPhase.PAUSED
    elif state.is_final():
        phase = RunPhase.ENDED
    elif state.is_running():
        phase = RunPhase.RUNNING
    elif state.is_pending():
        phase = RunPhase.PENDING
    elif state.is_cancelling():
        phase = RunPhase.CANCELLING
    else:
        phase = RunPhase.QUEUED
    return RunView(phase, state.name or "", state.state_details.pause_key, state.timestamp,
                   (state.message or "")[:300])


async def observe_runs(flow_run_ids: list[str]) -> dict[str, RunView]:
    """The runs' states in as few calls as possible; ids Prefect does not know are MISSING.
    A run that has been Running longer than a heartbeat interval also gets its last sign of
    life: a run whose process died sends no heartbeat and no state change any more."""
    found: dict[str, RunView] = {}
    ids = [i for i in flow_run_ids if _is_uuid(i)]  # anything else Prefect cannot know
    if not ids:
        return {i: MISSING for i in flow_run_ids}
    quiet_since = utcnow() - timedelta(seconds=get_settings().prefect.heartbeat_seconds)
    async with get_client() as client:
        for start in range(0, len(ids), 200):
            chunk = [UUID(i) for i in ids[start:start + 200]]
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)), limit=len(chunk))
            found.update({str(run.id): _view(run) for run in runs})
        for run_id, view in found.items():
            if view.phase is RunPhase.RUNNING and view.since and view.since < quiet_since:
                found[run_id] = replace(view, last_sign=await _last_sign(client, run_id))
    return {i: found.get(i, MISSING) for i in flow_run_ids}


async def _last_sign(client: PrefectClient, flow_run_id: str) -> datetime | None:
    page = await client.read_events(filter=EventFilter(
        resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
        occurred=EventOccurredFilter(since=utcnow() - timedelta(days=1)),
        order=EventOrder.DESC), limit=1)
    return page.events[0].occurred if page.events else None


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


async def resume_run(flow_run_id: str, pause_key: str, run_input: dict[str, Any]) -> Resume:
    if not _is_uuid(flow_run_id):
        return Resume.NOT_THERE
    async with get_client() as client:
        try:
            run = await client.read_flow_run(UUID(flow_run_id))
        except ObjectNotFound:
            return Resume.NOT_THERE
        state = run.state
        if state is None or not state.is_paused() or state.state_details.pause_key != pause_key:
            return Resume.NOT_THERE
        try:
            result = await client.resume_flow_run(UUID(flow_run_id), run_input=run_input)
        except PrefectHTTPStatusError as err:
            # 409: input for this key already exists (a reused run); 4xx: Prefect will never
            # take it. 5xx (a server restarting, its database away) is worth another try.
            if err.response.status_code < 500:
                return Resume.REFUSED
            raise
    if result.status is SetStateStatus.ACCEPT:
        return Resume.RESUMED
    if result.status is SetStateStatus.REJECT:
        reason = str(getattr(result.details, "reason", "") or "")
        return Resume.NOT_READY if "schema not found" in reason.lower() else Resume.REFUSED
    return Resume.NOT_THERE


async def stop_run(flow_run_id: str, *, reason: str) -> None:
    """Ends a run that must not go on (cancelled, or crashed so it frees its pool slot); a run
    that is gone or already ended is fine."""
    if not _is_uuid(flow_run_id):
        return
    async with get_client() as client:
        try:
            run = await client.read_flow_run(UUID(flow_run_id))
        except ObjectNotFound:
            return
        if run.state is None or run.state.is_final():
            return
        state: State[Any] = Crashed(message=reason) if run.state.is_pending() \
            else Cancelled(message=reason)
        await client.set_flow_run_state(UUID(flow_run_id), state, force=True)


@contextmanager
def configured_api() -> Iterator[None]:
    """Prefect's client reads its own settings; entry points (CLI, web server) point it at
    ours, so one setting decides where the Prefect server is and how to log in to it."""
    prefect = get_settings().prefect
    updates: dict[Any, Any] = {PREFECT_API_URL: prefect.api_url}
    if prefect.auth_string:
        updates[PREFECT_API_AUTH_STRING] = prefect.auth_string
    with temporary_settings(updates=updates):
        yield


@task(retries=3, retry_delay_seconds=[2, 10, 30])
async def stop_case_run(case_id: int) -> None:
    """Stops the step-plan run of a case that was just closed."""
    with read_session() as session:
        flow_run_id = get_case(session=session, case_id=case_id).flow_run_id
    if flow_run_id is not None:
        await stop_run(flow_run_id, reason="de aanvraag is gesloten")
