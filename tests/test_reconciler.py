"""The reconciler's rules, decided from two snapshots and the clock (no server needed), and
what it writes: repairs in the history, a stuck mark after too many, a staff restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from domain import messages as m
from domain.errors import InvalidTransition, NotAllowed, Unavailable
from models.case import get_case, history
from models.db import read_session, session_scope, utcnow
from service.actions import act, open_case, restart_case
from service.progress import Phase, case_progress
from settings import RepairSettings, get_settings
from tasks.reconcile import Action, CaseView, Cause, plan_repair, plan_repairs, restart_run
from tasks.runs import MISSING, RunPhase, RunView
from tests.conftest import ASSOCIATION, REGISTER, TODAY, login, make_staff
from tests.factories import request
from tests.replay import run_case

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = RepairSettings(pending_seconds=120, running_seconds=900, settle_seconds=20)
LONG_AGO = NOW - timedelta(hours=1)
JUST_NOW = NOW - timedelta(seconds=5)
CASE = CaseView(case_id=7, number="HR-2026-00007", flow_run_id="run-1", generation=1,
                awaiting_key="payment", updated_at=LONG_AGO)


def run(phase: RunPhase, *, key: str | None = None, since: datetime = LONG_AGO,
        name: str = "") -> RunView:
    return RunView(phase, name or phase.value, key, since)


def plan(case: CaseView, view: RunView) -> tuple[Action, Cause] | None:
    found = plan_repair(case, view, NOW, LIMITS)
    return (found.action, found.cause) if found else None


# --- the rules, one per line of the reconciler's table ---


def test_a_run_waiting_where_the_case_waits_needs_nothing() -> None:
    assert plan(CASE, run(RunPhase.PAUSED, key="payment")) is None


def test_a_decision_the_run_never_got_is_handed_to_it_after_a_moment() -> None:
    decided = replace(CASE, decision={"paid_on": "2026-05-30"})
    assert plan(replace(decided, decided_at=JUST_NOW), run(RunPhase.PAUSED, key="payment")) \
        is None  # the service's own hand-over may still be under way
    assert plan(replace(decided, decided_at=LONG_AGO), run(RunPhase.PAUSED, key="payment")) \
        == (Action.RESUME, Cause.UNDELIVERED)


@pytest.mark.parametrize("state", ["Crashed", "Failed", "Cancelled", "Completed"])
def test_a_run_that_ended_while_the_case_is_open_is_replaced(state: str) -> None:
    assert plan(CASE, run(RunPhase.ENDED, name=state)) == (Action.RESTART, Cause.RUN_ENDED)


def test_a_run_prefect_does_not_know_is_replaced() -> None:
    assert plan(CASE, MISSING) == (Action.RESTART, Cause.RUN_MISSING)


def test_a_case_whose_run_is_being_started_right_now_is_left_alone() -> None:
    starting = replace(CASE, flow_run_id=None, updated_at=JUST_NOW)
    assert plan(starting, MISSING) is None
    assert plan(replace(starting, updated_at=LONG_AGO), MISSING) == (Action.RESTART,
                                                                      Cause.RUN_MISSING)


def test_a_run_stuck_in_pending_is_replaced_after_the_limit() -> None:
    young = NOW - timedelta(seconds=LIMITS.pending_seconds - 1)
    old = NOW - timedelta(seconds=LIMITS.pending_seconds + 1)
    assert plan(CASE, run(RunPhase.PENDING, since=young)) is None
    assert plan(CASE, run(RunPhase.PENDING, since=old)) == (Action.RESTART, Cause.STALLED)
    assert plan(CASE, run(RunPhase.CANCELLING, since=old)) == (Action.RESTART, Cause.STALLED)


def test_a_run_running_far_longer_than_any_step_is_replaced() -> None:
    assert plan(CASE, run(RunPhase.RUNNING, since=NOW - timedelta(minutes=5))) is None
    assert plan(CASE, run(RunPhase.RUNNING, since=NOW - timedelta(minutes=16))) == (
        Action.RESTART, Cause.STALLED)


def test_a_running_run_that_gives_no_sign_of_life_is_replaced() -> None:
    """Heartbeats come every 30 s; a process that was killed sends none, nor a state change."""
    running = run(RunPhase.RUNNING, since=NOW - timedelta(minutes=3))
    assert plan(CASE, replace(running, last_sign=NOW - timedelta(seconds=20))) is None
    assert plan(CASE, replace(running, last_sign=NOW - timedelta(
        seconds=LIMITS.zombie_seconds + 1))) == (Action.RESTART, Cause.ZOMBIE)


def test_a_queued_run_waits_for_its_worker_however_long() -> None:
    assert plan(CASE, run(RunPhase.QUEUED, since=NOW - timedelta(days=2))) is None


def test_a_run_paused_where_the_case_does_not_wait_is_replaced() -> None:
    assert plan(CASE, run(RunPhase.PAUSED, key="submission")) == (Action.RESTART,
                                                                   Cause.WRONG_PAUSE)
    between = replace(CASE, awaiting_key=None)
    assert plan(between, run(RunPhase.PAUSED, key="payment")) == (Action.RESTART,
                                                                   Cause.WRONG_PAUSE)


def test_a_recorded_withdrawal_is_closed_by_the_sweep_if_its_own_run_did_not() -> None:
    assert plan(replace(CASE, withdrawn_at=JUST_NOW), run(RunPhase.PAUSED, key="payment")) \
        is None
    assert plan(replace(CASE, withdrawn_at=LONG_AGO), MISSING) == (Action.CLOSE,
                                                                   Cause.WITHDRAWAL)


# --- what the reconciler writes (database only; Prefect is unreachable here) ---


@pytest.fixture
def settle_now(offline: str) -> None:
    import os

    os.environ.update({"HERREG_REPAIR__SETTLE_SECONDS": "0",
                       "HERREG_REPAIR__PENDING_SECONDS": "0"})
    get_settings.cache_clear()


async def test_a_case_opened_while_prefect_was_down_is_planned_for_a_fresh_run(
        settle_now: None) -> None:
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    assert not opened.delivered
    plans = await plan_repairs([opened.case_id])
    assert [(p.action, p.cause, p.generation) for p in plans] == [
        (Action.RESTART, Cause.RUN_MISSING, 1)]


async def test_every_repair_is_written_in_the_history(offline: str) -> None:
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    # Prefect is down: the case is repaired, the new run waits for the next sweep.
    assert await restart_run(opened.case_id, generation=1, flow_run_id=None,
                             cause=Cause.RUN_MISSING) == "queued"
    with read_session() as session:
        case = get_case(session=session, case_id=opened.case_id)
        events = history(session=session, case_id=opened.case_id)
    assert (case.run_generation, case.repair_attempts, case.flow_run_id) == (2, 1, None)
    repair = next(e for e in events if e.key == "repair:2")
    assert repair.input["cause"] == "run_missing"
    # A caller that saw an older generation does nothing: someone else repaired it.
    assert await restart_run(opened.case_id, generation=1, flow_run_id=None,
                             cause=Cause.RUN_MISSING) == "settled"


async def _stuck_case() -> tuple[str, int]:
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    with session_scope() as session:
        case = get_case(session=session, case_id=opened.case_id, for_update=True)
        case.repair_attempts = get_settings().repair.max_attempts
        session.add(case)
    done = await restart_run(opened.case_id, generation=1, flow_run_id=None,
                             cause=Cause.RUN_ENDED, detail="Crashed")
    assert done == "stuck"
    return opened.number, opened.case_id


async def test_after_too_many_repairs_the_case_is_marked_stuck_not_processing(
        offline: str) -> None:
    number, case_id = await _stuck_case()
    with read_session() as session:
        case = get_case(session=session, case_id=case_id)
        progress = case_progress(session, case)
        keys = [e.key for e in history(session=session, case_id=case_id)]
    assert case.stuck_reason == m.STUCK.format(
        cause=m.REPAIR_CAUSES["run_ended"].format(state="Crashed"),
        attempts=get_settings().repair.max_attempts)
    assert progress.phase is Phase.STUCK and progress.staff_text == case.stuck_reason
    assert "Vastgelopen" not in (progress.public_text or "")
    assert "stuck:1" in keys
    # Within the retry interval nothing more is tried; the mark stays.
    assert await restart_run(case_id, generation=1, flow_run_id=None,
                             cause=Cause.RUN_ENDED) == "stuck"


async def test_a_stuck_case_is_tried_again_after_the_retry_interval(offline: str) -> None:
    _number, case_id = await _stuck_case()
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        case.stuck_since = utcnow() - timedelta(
            minutes=get_settings().repair.stuck_retry_minutes + 1)
        session.add(case)
    assert await restart_run(case_id, generation=1, flow_run_id=None,
                             cause=Cause.RUN_ENDED) == "queued"
    with read_session() as session:
        case = get_case(session=session, case_id=case_id)
    assert case.run_generation == 2 and case.stuck_reason is not None


async def test_progress_clears_the_stuck_mark(offline: str) -> None:
    number, case_id = await _stuck_case()
    await act(number, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION)
    assert await run_case(case_id) == "portfolio-reopened"
    with read_session() as session:
        case = get_case(session=session, case_id=case_id)
    assert (case.stuck_reason, case.repair_attempts) == (None, 0)


async def test_only_kp_staff_restart_a_stuck_case_and_prefect_down_says_so(
        offline: str) -> None:
    number, case_id = await _stuck_case()
    with pytest.raises(NotAllowed):
        await restart_case(number, actor=ASSOCIATION)
    outcome = await restart_case(number, actor=REGISTER)
    assert (outcome.delivered, outcome.message) == (False, m.RESTARTED_LATER)
    with read_session() as session:
        case = get_case(session=session, case_id=case_id)
    assert (case.stuck_reason, case.repair_attempts, case.run_generation) == (None, 0, 2)


async def test_a_restart_that_cannot_stop_the_old_run_changes_nothing(
        offline: str) -> None:
    number, case_id = await _stuck_case()
    with session_scope() as session:
        case = get_case(session=session, case_id=case_id, for_update=True)
        case.flow_run_id = "00000000-0000-0000-0000-000000000001"
        session.add(case)
    with pytest.raises(Unavailable, match=m.PREFECT_UNAVAILABLE):
        await restart_case(number, actor=REGISTER)
    with read_session() as session:
        case = get_case(session=session, case_id=case_id)
    assert case.stuck_reason is not None and case.run_generation == 1


async def test_restarting_a_case_that_is_not_stuck_is_refused(offline: str) -> None:
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    with pytest.raises(InvalidTransition, match=m.NOT_STUCK):
        await restart_case(opened.number, actor=REGISTER)


async def test_the_case_page_shows_the_stuck_mark_and_the_restart_button_to_kp(
        offline_client: TestClient) -> None:
    number, _case_id = await _stuck_case()
    kp = make_staff("register_staff")
    login(offline_client, kp)
    page = offline_client.get(f"/zaken/{number}")
    assert "Vastgelopen" in page.text and "/herstarten" in page.text
    inbox = offline_client.get("/inbox")
    assert number in inbox.text and "Vastgelopen" in inbox.text
    vvocm_client = TestClient(offline_client.app)
    login(vvocm_client, make_staff("association_staff"))
    page = vvocm_client.get(f"/zaken/{number}")
    assert "Vastgelopen" in page.text and "/herstarten" not in page.text
