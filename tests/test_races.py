"""Races on one case, on SQLite and PostgreSQL: a step, a closure, expiry and a decision that
come at the same moment leave exactly one winner, and the losers get a clear answer. Each
contender runs in its own thread with its own connection, as the web app, the workers and
the sweep do; every race is repeated to give the interleavings a chance."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine, Iterator
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from domain.errors import CaseError, DecisionConflict
from models.case import CaseEvent, EventKind, get_case, history
from models.db import migrate, read_session
from models.decision import get_decision
from service.actions import act, open_case
from tests.conftest import (
    ASSOCIATION,
    PRACTITIONER,
    REGISTER,
    TODAY,
    herreg_env,
    postgres_database,
)
from tests.factories import request
from tests.replay import close, run_case

ROUNDS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, offline: str, tmp_path: Path) -> Iterator[str]:
    """The offline database, or a throwaway PostgreSQL one whose mail (its case numbers
    start at 1 again) goes to files rather than to the offline database's SMTP server."""
    if request.param == "sqlite":
        yield offline
        return
    with postgres_database() as url:
        migrate(url)
        with herreg_env(database__url=url, smtp__url=f"file://{tmp_path / 'mail'}"):
            yield url


def race(*contenders: Callable[[], Coroutine[Any, Any, Any]]) -> list[Any]:
    """Start all at once, each in a thread with its own event loop (and a copy of this one's
    context: Prefect's settings, the test's API address among them); their results or
    errors."""
    start = threading.Barrier(len(contenders))
    results: list[Any] = [None] * len(contenders)

    def run(index: int, contender: Callable[[], Coroutine[Any, Any, Any]],
            context: contextvars.Context) -> None:
        start.wait()
        try:
            results[index] = context.run(asyncio.run, contender())
        except CaseError as refused:
            results[index] = refused

    threads = [threading.Thread(target=run, args=(i, c, contextvars.copy_context()))
               for i, c in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def events(case_id: int) -> list[CaseEvent]:
    with read_session() as session:
        return history(session=session, case_id=case_id)


def consistent(case_id: int) -> str:
    """The case's state is the one its last transition says; returns it."""
    with read_session() as session:
        state = get_case(session=session, case_id=case_id).state
    transitions = [e for e in events(case_id) if e.kind is EventKind.TRANSITION]
    assert transitions[-1].to_state == state, [(e.key, e.to_state) for e in transitions]
    return state


async def at_payment_with_decision() -> tuple[str, int]:
    opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
    ref, case_id = opened.number, opened.case_id
    for pause, action, data, actor in [
        ("association-decision", "association_decision", {"outcome": "advise"}, ASSOCIATION),
        ("portfolio-reopened", "portfolio_reopened", {"reopened_on": str(TODAY)}, REGISTER),
        ("submission", "submit", {"submitted_on": str(TODAY)}, PRACTITIONER),
        ("payment", "payment_received", {"paid_on": str(TODAY)}, REGISTER),
    ]:
        assert await run_case(case_id) == pause
        await act(ref, action, data, actor=actor)
    return ref, case_id


async def test_a_withdrawal_after_a_recorded_step_decision_waits_for_the_step(
        database: str) -> None:
    """The payment was recorded first, so it wins: the withdrawal is refused (issue 19; before,
    both were recorded and the closure raced the step), the run carries the step out, and
    withdrawing works again at the next pause."""
    for _ in range(ROUNDS):
        ref, case_id = await at_payment_with_decision()
        step, withdrawal = race(partial(run_case, case_id),
                                partial(act, ref, "withdraw", {"reason": "race"},
                                        actor=PRACTITIONER))
        assert step == "completeness-1"
        if isinstance(withdrawal, CaseError):
            assert isinstance(withdrawal, DecisionConflict)
            assert consistent(case_id) == "completeness_check"
            await act(ref, "withdraw", {"reason": "race"}, actor=PRACTITIONER)
        assert await close(case_id, "withdrawn") is True
        assert consistent(case_id) == "withdrawn"


async def test_expiry_and_a_decision_at_once_leave_one_winner(database: str) -> None:
    """At the practitioner's submission, the only kind of wait that can expire."""
    for _ in range(ROUNDS):
        opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
        for pause, action, data, actor in [
            ("association-decision", "association_decision", {"outcome": "advise"},
             ASSOCIATION),
            ("portfolio-reopened", "portfolio_reopened", {"reopened_on": str(TODAY)}, REGISTER),
        ]:
            assert await run_case(opened.case_id) == pause
            await act(opened.number, action, data, actor=actor)
        assert await run_case(opened.case_id) == "submission"
        with read_session() as session:
            due: date = get_case(session=session, case_id=opened.case_id).due_on
        decided, expired = race(
            partial(act, opened.number, "submit", {"submitted_on": str(TODAY)},
                    actor=PRACTITIONER),
            partial(close, opened.case_id, "expired", due + timedelta(days=1)),
        )
        state = consistent(opened.case_id)
        with read_session() as session:
            recorded = get_decision(session=session, case_id=opened.case_id,
                                    pause_key="submission")
        if expired is True:
            assert state == "expired" and recorded is None
            assert isinstance(decided, CaseError)
        else:
            assert expired is False and recorded is not None
            assert state == "awaiting_submission"


async def test_two_staff_deciding_at_once_record_one_decision(database: str) -> None:
    for _ in range(ROUNDS):
        opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
        assert await run_case(opened.case_id) == "association-decision"
        results = race(*[
            partial(act, opened.number, "association_decision", {"outcome": outcome},
                    actor=ASSOCIATION)
            for outcome in ("advise", "intake_call")])
        refused = [r for r in results if isinstance(r, CaseError)]
        assert len(refused) == 1
        assert len([e for e in events(opened.case_id) if e.kind is EventKind.DECISION
                    and e.key == "decision:association-decision"]) == 1


async def test_withdrawal_and_expiry_at_once_close_the_case_once(database: str) -> None:
    for _ in range(ROUNDS):
        opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
        assert await run_case(opened.case_id) == "association-decision"
        with read_session() as session:
            due: date = get_case(session=session, case_id=opened.case_id).due_on
        await act(opened.number, "withdraw", {}, actor=PRACTITIONER)
        results = race(partial(close, opened.case_id, "withdrawn"),
                       partial(close, opened.case_id, "expired", due + timedelta(days=1)))
        assert sorted(results) == [False, True]
        closures = [e for e in events(opened.case_id)
                    if e.key in ("step:withdrawn", "step:expired")]
        assert len(closures) == 1
        consistent(opened.case_id)
