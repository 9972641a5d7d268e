"""Who heals the healer (issue 19): a decision waiting for processing says the sweep repairs it
only while sweeps come; past `repair.stuck_after_minutes` the case is stuck, with the restart
action, whatever the reason; staff see when the sweep last ran and when it is late.
Offline database of its own (its sweep log is the test's), time set by moving timestamps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from markupsafe import escape
from sqlmodel import delete, select

from domain import messages as m
from domain.errors import InvalidTransition
from domain.formatting import format_when
from models.db import read_session, session_scope, utcnow
from models.decision import get_decision
from models.sweep import SweepRun, last_sweep, record_sweep
from service.actions import act, open_case, restart_case
from service.case_search import CaseQuery, find_cases
from service.progress import Phase, case_progress, stuck_cases
from settings import get_settings
from tests.conftest import ASSOCIATION, REGISTER, TODAY, Mailbox, case_row, login, make_staff
from tests.factories import request
from tests.replay import run_case


async def decided(minutes_ago: float) -> tuple[str, int]:
    """A case whose association decision was recorded `minutes_ago` and never processed."""
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    await act(opened.number, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION)
    with session_scope() as session:
        record = get_decision(session=session, case_id=opened.case_id,
                              pause_key="association-decision")
        assert record is not None
        record.recorded_at = utcnow() - timedelta(minutes=minutes_ago)
        session.add(record)
    return opened.number, opened.case_id


def swept(minutes_ago: float) -> None:
    with session_scope() as session:
        session.add(SweepRun(finished_at=utcnow() - timedelta(minutes=minutes_ago), report={}))


def progress(case_id: int) -> Any:
    with read_session() as session:
        return case_progress(session, case_row(case_id))


async def test_a_delay_heals_by_itself_only_while_sweeps_come(own_database: Mailbox) -> None:
    _number, case_id = await decided(minutes_ago=3)
    swept(minutes_ago=1)
    assert (progress(case_id).phase, progress(case_id).staff_text) == (Phase.DELAYED, m.DELAYED)
    with session_scope() as session:  # the sweep stops
        session.exec(delete(SweepRun))
    limit = get_settings().repair.sweep_late_minutes
    swept(minutes_ago=limit + 1)
    found = progress(case_id)
    assert found.phase is Phase.DELAYED
    with read_session() as session:
        last = last_sweep(session=session)
    assert last is not None
    assert found.staff_text == m.DELAYED_NO_SWEEP.format(
        last=format_when(last), minutes=get_settings().repair.stuck_after_minutes)
    assert "herstelt dit automatisch" not in (found.staff_text or "")
    assert found.public_text and "Vastgelopen" not in found.public_text


async def test_waiting_past_the_limit_is_stuck_whatever_the_reason(
        own_database: Mailbox) -> None:
    """No sweep ever marked it: the wait alone makes it stuck, with the restart action."""
    limit = get_settings().repair.stuck_after_minutes
    swept(minutes_ago=limit + 5)  # the sweep stopped
    stuck_number, stuck_id = await decided(minutes_ago=limit + 1)
    fresh_number, fresh_id = await decided(minutes_ago=limit - 1)
    assert case_row(stuck_id).stuck_reason is None
    found = progress(stuck_id)
    assert found.phase is Phase.STUCK
    assert found.staff_text is not None and found.staff_text.startswith("Vastgelopen: het besluit")
    assert "heeft sinds" in found.staff_text  # and it names the sweep's silence
    assert progress(fresh_id).phase is Phase.DELAYED
    with read_session() as session:
        assert stuck_cases(session, [stuck_id, fresh_id]) == {stuck_id}
        kp_inbox, _total = find_cases(session, CaseQuery(
            waiting_for=("payment_received",), with_stuck=True))
    assert [case.number for case, _ in kp_inbox] == [stuck_number]
    try:
        await restart_case(fresh_number, actor=REGISTER)
    except InvalidTransition as refused:
        assert str(refused) == m.NOT_STUCK
    else:
        raise AssertionError("a case still within its limit was restarted")
    outcome = await restart_case(stuck_number, actor=REGISTER)  # Prefect is down here
    assert outcome.message == m.RESTARTED_LATER
    assert case_row(stuck_id).run_generation == 2


async def test_staff_see_when_the_sweep_last_ran_and_when_it_is_late(
        own_database: Mailbox, offline_client: Any) -> None:
    admin = make_staff("admin")
    login(offline_client, admin)
    assert m.SWEEP_NEVER in offline_client.get("/beheer").text
    with session_scope() as session:
        record_sweep(session=session, report={"mailed": 1})
    with read_session() as session:
        last = last_sweep(session=session)
    assert last is not None
    assert m.SWEEP_LAST.format(last=format_when(last)) in offline_client.get("/beheer").text
    assert "De automatische controle" not in offline_client.get("/inbox").text
    with session_scope() as session:
        row = session.exec(select(SweepRun)).one()
        row.finished_at = utcnow() - timedelta(minutes=get_settings().repair.sweep_late_minutes
                                               + 1)
        session.add(row)
        late = format_when(row.finished_at)
    warning = m.SWEEP_LATE.format(last=late)
    assert str(escape(warning)) in offline_client.get("/beheer").text
    assert str(escape(warning)) in offline_client.get("/inbox").text
