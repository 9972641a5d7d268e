"""What the service refuses, and how: R2/R4 to the day, a decision the case is not waiting for
or for a step the case has left, bad input in Dutch per field, roles, two people deciding at
once, a double click, and a second case for the same specialisation. On the offline database:
the step plan is replayed between decisions (tests/replay.py)."""

from __future__ import annotations

import asyncio
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import select

from domain import messages as m
from domain.decisions import ApplicationSubmitted, AssociationDecision, PaymentReceived
from domain.errors import (
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    RegistrationNotLapsed,
)
from domain.formatting import format_date
from domain.states import Role
from models.case import Case, CaseEvent, EventKind, history
from models.db import session_scope
from models.practitioner import get_by_kp_number
from models.registration import RegistrationStatus, latest_registration
from policies import load_policy
from service.actions import act, open_case
from service.actors import Actor
from tests.conftest import ASSOCIATION, PRACTITIONER, REGISTER, TODAY, Mailbox, case_row
from tests.factories import request
from tests.replay import run_case

pytestmark = pytest.mark.usefixtures("offline")

REQUEST_DATE = TODAY - timedelta(days=30)
COLLEAGUE = Actor(Role.ASSOCIATION_STAFF, "Bram Bakker")


def events(case_id: int) -> list[CaseEvent]:
    with session_scope() as session:
        return history(session=session, case_id=case_id)


def decisions(case_id: int) -> list[CaseEvent]:
    return [e for e in events(case_id) if e.kind == EventKind.DECISION and e.key != "open"]


def cases_of(kp_number: str) -> list[Case]:
    with session_scope() as session:
        practitioner = get_by_kp_number(session=session, kp_number=kp_number)
        if practitioner is None:
            return []
        return list(session.exec(select(Case).where(Case.practitioner_id == practitioner.id)))


async def step(ref: str, action: str, data: dict[str, Any], actor: Actor,
               mailbox: Mailbox) -> str:
    """One decision, then the run replayed to its next pause (returned)."""
    case = case_row(ref)
    assert case.awaiting_action == action
    outcome = await act(ref, action, data, actor=actor)
    assert outcome.message == m.RECEIVED_QUEUED  # no Prefect here: recorded, queued
    paused = await run_case(case.id)
    mailbox.assert_each_once()
    return paused


# --- R2/R4: only a lapsed specialisation qualifies, to the day ---

# (previous period start S, its end E = S + 5y - 1d, last submission day W = E + 2 months)
WINDOWS = [
    (date(2021, 3, 15), date(2026, 3, 14), date(2026, 5, 14)),
    # month arithmetic clamps to the month's end: 31 Dec + 2 months = 28 Feb
    (date(2021, 1, 1), date(2025, 12, 31), date(2026, 2, 28)),
]


@pytest.mark.parametrize(("start", "end", "last_day"), WINDOWS)
def test_submission_window_from_policy(start: date, end: date, last_day: date) -> None:
    policy = load_policy("KOT")
    assert policy.period_end(start) == end
    assert policy.submission_deadline(end) == last_day
    assert not policy.is_lapsed(end, last_day)
    assert policy.is_lapsed(end, last_day + timedelta(days=1))


@pytest.mark.parametrize(("start", "end", "last_day"), WINDOWS)
async def test_cannot_open_case_before_lapse(start: date, end: date, last_day: date) -> None:
    policy = load_policy("KOT")
    window_end = policy.submission_deadline(policy.period_end(start))
    assert window_end == last_day
    for day in (end, window_end):
        data = request(day)
        data["previous_period_start"] = start
        with pytest.raises(RegistrationNotLapsed) as refused:
            await open_case(data, actor=ASSOCIATION)
        assert str(refused.value) == m.NOT_LAPSED.format(
            specialisation=policy.name, deadline=format_date(last_day))
        assert cases_of(data["kp_number"]) == []
        with session_scope() as session:
            assert get_by_kp_number(session=session, kp_number=data["kp_number"]) is None


@pytest.mark.parametrize(("start", "end", "last_day"), WINDOWS)
async def test_can_open_case_day_after_window(start: date, end: date, last_day: date) -> None:
    policy = load_policy("KOT")
    first_lapsed_day = policy.submission_deadline(policy.period_end(start)) + timedelta(days=1)
    assert first_lapsed_day == last_day + timedelta(days=1)
    data = request(first_lapsed_day)
    data["previous_period_start"] = start
    opened = await open_case(data, actor=ASSOCIATION)
    assert opened.state == "requested"
    case = case_row(opened.number)
    assert case.request_date == first_lapsed_day
    with session_scope() as session:
        registration = latest_registration(session=session, practitioner_id=case.practitioner_id,
                                           specialisation="KOT")
        assert registration is not None
        assert (registration.period_start, registration.period_end) == (start, end)
        assert registration.status == RegistrationStatus.LAPSED
        assert not registration.visible
    assert await run_case(opened.case_id) == "association-decision"


# --- acting on the wrong step ---


async def test_decision_the_case_is_not_waiting_for_is_refused() -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await run_case(case_id) == "association-decision"
    before = [e.key for e in events(case_id)]
    with pytest.raises(InvalidTransition) as refused:
        await act(ref, "payment_received", {"paid_on": str(TODAY)}, actor=REGISTER)
    assert str(refused.value) == m.NOT_AWAITED.format(action=PaymentReceived.title,
                                                      awaited=AssociationDecision.title)
    assert refused.value.state == "association_check"
    assert [e.key for e in events(case_id)] == before
    case = case_row(ref)
    assert case.state == "association_check" and case.awaiting_action == "association_decision"


async def test_decision_for_a_step_the_case_has_left_is_refused() -> None:
    """A late double click or a stale page names the step it saw; it is not taken for the
    next one."""
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await run_case(case_id) == "association-decision"
    await act(ref, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION,
              pause_key="association-decision")
    assert await run_case(case_id) == "portfolio-reopened"
    before = [e.key for e in events(case_id)]
    with pytest.raises(DecisionConflict) as refused:
        await act(ref, "portfolio_reopened", {"reopened_on": str(TODAY)}, actor=REGISTER,
                  pause_key="association-decision")
    assert str(refused.value) == m.STEP_MOVED_ON.format(label=case_row(ref).state.label)
    assert [e.key for e in events(case_id)] == before
    await act(ref, "portfolio_reopened", {"reopened_on": str(TODAY)}, actor=REGISTER,
              pause_key="portfolio-reopened")
    assert await run_case(case_id) == "submission"


# --- bad input, said in Dutch per field ---


async def test_bad_input_is_refused_per_field(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await run_case(case_id) == "association-decision"
    await step(ref, "association_decision", {"outcome": "advise"}, ASSOCIATION, mailbox)
    reopened_on = TODAY - timedelta(days=10)
    assert await step(ref, "portfolio_reopened", {"reopened_on": str(reopened_on)}, REGISTER,
                      mailbox) == "submission"
    before = [e.key for e in events(case_id)]

    refusals: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"submitted_on": "gisteren"}, {"submitted_on": m.FIELD_DATE}),
        ({"submitted_on": str(TODAY), "remark": "x"}, {"remark": m.FIELD_UNKNOWN}),
        ({}, {"submitted_on": m.FIELD_REQUIRED}),
        ({"submitted_on": str(TODAY + timedelta(days=1))}, {"submitted_on": m.DATE_IN_FUTURE}),
        ({"submitted_on": str(reopened_on - timedelta(days=1))},
         {"submitted_on": m.DATE_BEFORE.format(label="de heropening van het portfolio",
                                               date=format_date(reopened_on))}),
    ]
    for data, errors in refusals:
        with pytest.raises(InvalidInput) as refused:
            await act(ref, "submit", data, actor=PRACTITIONER)
        assert refused.value.errors == errors, data

    with pytest.raises(NotAllowed) as not_allowed:
        await act(ref, "association_decision", {"outcome": "advise"}, actor=PRACTITIONER)
    assert str(not_allowed.value) == m.ROLE_NOT_ALLOWED.format(
        role=Role.PRACTITIONER.label, action=AssociationDecision.title)
    with pytest.raises(NotAllowed):
        await act(ref, "submit", {"submitted_on": str(TODAY)}, actor=ASSOCIATION)
    with pytest.raises(InvalidInput) as unknown:
        await act(ref, "pay", {}, actor=REGISTER)
    assert set(unknown.value.errors) == {"action"}

    assert [e.key for e in events(case_id)] == before
    case = case_row(ref)
    assert case.state == "awaiting_submission" and case.awaiting_action == "submit"
    assert ApplicationSubmitted.action == case.awaiting_action


# --- two people, one decision ---


async def test_two_staff_deciding_at_once_one_wins(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await run_case(case_id) == "association-decision"
    results = await asyncio.gather(
        act(ref, "association_decision", {"outcome": "advise", "note": "Anne"},
            actor=ASSOCIATION),
        act(ref, "association_decision", {"outcome": "intake_call", "note": "Bram"},
            actor=COLLEAGUE),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], DecisionConflict), repr(lost[0])
    assert str(lost[0]) == m.ALREADY_DECIDED
    assert won[0].message == m.RECEIVED_QUEUED
    rows = decisions(case_id)
    assert len(rows) == 1
    assert rows[0].key == "decision:association-decision"
    winner = ASSOCIATION if results[0] is won[0] else COLLEAGUE
    assert rows[0].actor_name == winner.name
    expected = "portfolio-reopened" if winner is ASSOCIATION else "intake-outcome"
    assert await run_case(case_id) == expected
    mailbox.assert_each_once()


async def test_two_staff_deciding_in_parallel_threads_one_wins(mailbox: Mailbox) -> None:
    """The same race with real parallelism: each decision in its own thread and event loop."""
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await run_case(case_id) == "association-decision"

    start = threading.Barrier(2)

    def decide(actor: Actor) -> Any:
        start.wait(timeout=10)
        try:
            return asyncio.run(act(ref, "association_decision", {"outcome": "advise"},
                                   actor=actor))
        except Exception as err:  # the loser's exception is its result
            return err

    results = await asyncio.gather(asyncio.to_thread(decide, ASSOCIATION),
                                   asyncio.to_thread(decide, COLLEAGUE))
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(lost) == 1, results
    assert isinstance(lost[0], DecisionConflict), repr(lost[0])
    assert str(lost[0]) == m.ALREADY_DECIDED
    assert len(decisions(case_id)) == 1
    assert await run_case(case_id) == "portfolio-reopened"
    assert mailbox.templates(case_id).count("reopen_advice") == 1
    mailbox.assert_each_once()


async def test_double_click_sends_nothing_twice(mailbox: Mailbox) -> None:
    opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    assert await run_case(case_id) == "association-decision"
    data = {"outcome": "advise"}
    first = await act(ref, "association_decision", data, actor=ASSOCIATION)
    assert first.message == m.RECEIVED_QUEUED
    with pytest.raises(DecisionConflict) as second:  # recorded, not processed yet
        await act(ref, "association_decision", data, actor=ASSOCIATION)
    assert str(second.value) == m.ALREADY_DECIDED

    assert await run_case(case_id) == "portfolio-reopened"
    with pytest.raises(InvalidTransition) as third:
        await act(ref, "association_decision", data, actor=ASSOCIATION)
    assert str(third.value) == m.NOT_AWAITED.format(
        action=AssociationDecision.title,
        awaited="KP heeft het digitaal portfolio voor de specialisatie heropend")
    assert await run_case(case_id) == "portfolio-reopened"  # a replay repeats nothing
    assert mailbox.templates(case_id) == [
        "request_received", "association_check_requested", "reopen_advice",
        "association_approved",
    ]
    mailbox.assert_each_once()
    assert [e.key for e in decisions(case_id)] == ["decision:association-decision"]
    assert [e.key for e in events(case_id)].count("step:advise-reopening") == 1


# --- one open case per practitioner and specialisation ---


async def test_open_case_twice_is_refused() -> None:
    data = request(REQUEST_DATE)
    first = await open_case(data, actor=ASSOCIATION)
    with pytest.raises(InvalidTransition) as refused:
        await open_case(data, actor=ASSOCIATION)
    assert str(refused.value) == m.OPEN_CASE_EXISTS.format(
        number=first.number, specialisation=load_policy("KOT").name)
    assert refused.value.state in ("requested", "association_check")
    assert [c.number for c in cases_of(data["kp_number"])] == [first.number]
    again = dict(data, request_date=REQUEST_DATE + timedelta(days=1))
    with pytest.raises(InvalidTransition):
        await open_case(again, actor=ASSOCIATION)
    assert len(cases_of(data["kp_number"])) == 1
    assert await run_case(first.case_id) == "association-decision"
