"""Against the running stack (Prefect server behind its password, workers, loopback SMTP):
every way a run can be lost ends with the case moving on, repaired by the sweep's
reconciler, with the repair in the history and no mail twice. The sweep is called here
instead of waited for; it is the same flow the server schedules every minute."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.flow_runs import aresume_flow_run
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Pending

from domain import messages as m
from domain.states import CaseState, Role
from flows.sweeps import sweep
from models.case import get_case, history
from models.db import read_session, session_scope, utcnow
from models.sweep import last_sweep
from service.actions import act, open_case
from settings import get_settings
from stack.processes import Stack, descendants, free_port
from tests.conftest import (
    ASSOCIATION,
    PRACTITIONER,
    REGISTER,
    TODAY,
    Mailbox,
    awaiting,
    case_row,
    herreg_env,
    wait_until,
)
from tests.factories import request

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(autouse=True)
def repair_at_once() -> Iterator[None]:
    """The reconciler leaves a fresh decision to the service's own hand-over for a moment,
    and a run in Pending two minutes to start its process; here it acts sooner."""
    with herreg_env(repair__settle_seconds="0", repair__pending_seconds="30"):
        yield


async def heal(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    """Run sweeps until `check` holds: what the scheduled sweep does every minute."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await sweep()
        found = check()
        if found:
            return found
        await asyncio.sleep(1)
    raise AssertionError(f"not healed: {what}")


def keys(case_id: int) -> list[str]:
    with read_session() as session:
        return [e.key for e in history(session=session, case_id=case_id)]


def repairs(case_id: int) -> list[str]:
    with read_session() as session:
        return [e.input["cause"] for e in history(session=session, case_id=case_id)
                if e.action == "repair"]


async def paused_run(ref: str, action: str = "association_decision") -> str:
    """The run id of a case whose run is suspended at the pause it awaits."""
    case = await awaiting(ref, action, timeout=120)

    async def suspended() -> bool:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(case.flow_run_id))
        return bool(run.state and run.state.is_paused())

    deadline = time.monotonic() + 120
    while not await suspended():
        assert time.monotonic() < deadline, "the run never suspended"
        await asyncio.sleep(0.3)
    return str(case.flow_run_id)


async def test_prefects_api_refuses_callers_without_its_password(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.api_url}/flow_runs/filter", json={})
    assert response.status_code == 401


async def test_a_case_opened_while_prefect_was_unreachable_gets_its_run_from_the_sweep(
        mailbox: Mailbox) -> None:
    down = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: down}):
        opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    assert not opened.delivered and case_row(opened.number).flow_run_id is None
    await heal(lambda: case_row(opened.number).awaiting_action == "association_decision",
               "the case has no run")
    assert repairs(opened.case_id) == ["run_missing"]
    await wait_until(lambda: len(mailbox.for_case(opened.case_id)) == 2, 60)
    mailbox.assert_each_once()


async def test_a_resume_prefect_refuses_is_repaired_by_a_fresh_run(mailbox: Mailbox) -> None:
    """Seen on the embedded SQLite server under load: the pause's input schema was never
    stored, so every resume was refused ("Run input schema not found")."""
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    flow_run_id = await paused_run(opened.number)
    async with get_client() as client:
        run = await client.read_flow_run(UUID(flow_run_id))
        keyset = run.state.state_details.run_input_keyset if run.state else None
        assert keyset is not None
        await client.delete_flow_run_input(UUID(flow_run_id), keyset["schema"])
    outcome = await act(opened.number, "association_decision", {"outcome": "advise"},
                        actor=ASSOCIATION)
    assert not outcome.delivered and outcome.message == m.RECEIVED_QUEUED
    case = await heal(lambda: (c := case_row(opened.number)).state == "reopen_advised" and c,
                      "the refused decision")
    assert case.run_generation == 2 and case.flow_run_id != flow_run_id
    assert repairs(opened.case_id) == ["resume_refused"]
    await wait_until(lambda: "reopen_advice" in mailbox.templates(opened.case_id), 60)
    mailbox.assert_each_once()


def executor_processes(stack: Stack) -> list[int]:
    """The warm executor and its processes (where every case run executes)."""
    worker = stack.children["worker"].process.pid
    return [worker, *descendants(worker)]


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)


async def running(flow_run_id: str) -> None:
    """Until Prefect shows the run Running: its step is being taken, in a warm process."""
    async with get_client() as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = await client.read_flow_run(UUID(flow_run_id))
            if run.state is not None and run.state.is_running():
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the resumed run never ran")


async def kill_the_executor_mid_step(stack: Stack, ref: str) -> tuple[str, str]:
    """Resume the case's run and freeze the executor as soon as the run is Running; SIGKILL
    it if the step is not done yet. On a loaded machine the step may be done by then: the
    executor is let go, and the kill is tried on the next step. Returns the run's id and the
    action the case awaits once the killed step is done."""
    today = str(TODAY)
    steps = [("association_decision", {"outcome": "advise"}, ASSOCIATION),
             ("portfolio_reopened", {"reopened_on": today}, REGISTER),
             ("submit", {"submitted_on": today}, PRACTITIONER),
             ("payment_received", {"paid_on": today}, REGISTER),
             ("completeness", {}, REGISTER)]
    for (action, data, actor), (following, _, _) in itertools.pairwise(steps):
        flow_run_id = await paused_run(ref, action)
        acting = asyncio.create_task(act(ref, action, data, actor=actor))
        await running(flow_run_id)
        pids = executor_processes(stack)
        signal_all(pids, signal.SIGSTOP)
        if case_row(ref).awaiting_action != following:
            signal_all(pids, signal.SIGKILL)
            assert (await acting).delivered
            return flow_run_id, following
        signal_all(pids, signal.SIGCONT)
        await acting
    raise AssertionError("every resumed run finished its step before it could be stopped")


async def test_a_run_whose_executor_is_killed_mid_step_goes_on_when_it_restarts(
        stack: Stack, mailbox: Mailbox) -> None:
    """The stack restarts the executor; under the same name it re-claims the run it left
    Running, which replays to the step and takes it: no repair, nothing twice."""
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    restarts = stack.children["worker"].restarts
    flow_run_id, following = await kill_the_executor_mid_step(stack, opened.number)
    case = await awaiting(opened.number, following, timeout=120)
    assert stack.children["worker"].restarts == restarts + 1
    assert case.flow_run_id == flow_run_id and repairs(opened.case_id) == []
    async with get_client() as client:
        states = [s.name for s in await client.read_flow_run_states(UUID(flow_run_id))]
    assert "Scheduled" in states[states.index("Resuming"):], "re-claimed by the new executor"
    mailbox.assert_each_once()


async def test_operator_input_through_prefects_resume_is_checked_and_recorded(
        mailbox: Mailbox) -> None:
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    flow_run_id = await paused_run(opened.number)
    await aresume_flow_run(UUID(flow_run_id), run_input={"outcome": "intake_call"})
    await wait_until(lambda: case_row(opened.number).state == "intake_call", 120,
                     "the operator's decision to be acted on")
    with read_session() as session:
        decision = next(e for e in history(session=session, case_id=opened.case_id)
                        if e.key == "decision:association-decision")
    assert (decision.actor_role, decision.actor_name) == (Role.OPERATOR, "Prefect UI")
    await wait_until(lambda: "intake_call_invited" in mailbox.templates(opened.case_id), 60)


async def test_the_prefect_server_schedules_the_sweep_in_its_own_pool(stack: Stack) -> None:
    """prefect.yaml schedules the sweep; the server's scheduler must really create its runs
    (SQLAlchemy 2.1 broke Prefect 3.8.8's scheduler without any visible error)."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("sweep/sweep")
        assert deployment.work_pool_name == "herregistratie-sweep"
        only_sweeps = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        deadline = time.monotonic() + 150
        while not await client.read_flow_runs(deployment_filter=only_sweeps):
            assert time.monotonic() < deadline, "no sweep run was scheduled"
            await asyncio.sleep(2)


async def test_one_broken_case_does_not_hold_up_the_sweep_for_the_others(
        mailbox: Mailbox) -> None:
    """Each case is repaired, chased or expired in an error boundary of its own: a case whose
    register policy is gone (or whose run id is garbage) fails alone, counted in the report;
    the healthy one, VvOCM's step late, is escalated (it never expires for that)."""
    broken = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    healthy = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    for opened in (broken, healthy):
        await awaiting(opened.number, "association_decision", timeout=120)
    due = case_row(healthy.number).due_on
    with session_scope() as session:
        case = get_case(session=session, case_id=broken.case_id, for_update=True)
        case.specialisation, case.flow_run_id = "XYZ", "geen-run-id"
        session.add(case)
    late = due + timedelta(days=get_settings().deadlines.escalate_staff_after)
    report = await sweep(today=late)
    assert report["errors"] >= 1
    assert report["escalation"] >= 1
    assert case_row(healthy.number).state == "association_check"
    assert "escalation:association-decision" in keys(healthy.case_id)
    assert case_row(broken.number).state == "association_check"
    with session_scope() as session:  # put the broken case out of the way of later sweeps
        case = get_case(session=session, case_id=broken.case_id, for_update=True)
        case.specialisation, case.state = "KOT", CaseState.WITHDRAWN
        session.add(case)


async def test_a_repair_storm_drains_in_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """One sweep carries out at most `repair.per_sweep` repairs and says how many are left,
    so a storm never makes a sweep run for an hour (the next one waits for it)."""
    from prefect import task

    import flows.sweeps
    from tasks.reconcile import Action, Cause, Repair

    storm = [Repair(10_000_000 + i, Action.RESTART, Cause.RUN_MISSING, 1, None)
             for i in range(3)]  # cases that do not exist: each repair finds nothing to do

    @task
    async def found() -> list[Repair]:
        return storm

    monkeypatch.setattr(flows.sweeps, "find_repairs", found)
    with herreg_env(repair__per_sweep="2"):
        report = await sweep()
    assert report["repairs_left"] == 1
    assert report[f"settled:{Cause.RUN_MISSING}"] == 2


async def test_a_sweep_left_pending_does_not_hold_the_sweeps_slot(stack: Stack) -> None:
    """Seen after a power cut: a sweep run left Pending held the sweep pool's only slot, and
    every later sweep stayed Late, the reconciler with it. The pool's executor ends such a run
    (it needs no sweep for that), and the scheduled sweeps go on and are written down."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("sweep/sweep")
        assert deployment.id is not None
        held = await client.create_flow_run_from_deployment(
            deployment.id, state=Pending(timestamp=utcnow() - timedelta(minutes=10)))
        run = await client.read_flow_run(held.id)
        assert run.state is not None and run.state.is_pending()

        async def ended() -> bool:
            found = await client.read_flow_run(held.id)
            return bool(found.state and found.state.is_crashed())

        deadline = time.monotonic() + 90
        while not await ended():
            assert time.monotonic() < deadline, "the Pending sweep kept its slot"
            await asyncio.sleep(1)
    freed = utcnow()
    with read_session() as session:
        await wait_until(lambda: (last := last_sweep(session=session)) and last > freed, 150,
                         "a sweep after the slot was freed")
