"""One winner between a withdrawal and a step's decision (issue 19): at every kind of pause, the
two posted within -50..+50 ms of each other on PostgreSQL, each in a thread of its own as two
people's requests would be. Whichever is recorded first wins; the other is refused with a
clear conflict and nothing of it is recorded; the case ends as the winner says."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain import messages as m
from domain.errors import DecisionConflict
from domain.procedure import DECISIONS
from models.db import migrate, read_session, session_scope, utcnow
from models.decision import get_decision
from service.actions import act, open_case
from service.actors import Actor
from tests.conftest import (
    ASSOCIATION,
    PRACTITIONER,
    REGISTER,
    REVIEWER,
    TODAY,
    case_row,
    herreg_env,
    postgres_database,
)
from tests.factories import request
from tests.replay import close, run_case
from tests.test_races import race
from tests.test_step_plan import REQUEST_DATE, TO_PAYMENT, TO_REVIEW

pytestmark = pytest.mark.usefixtures("offline")
Step = tuple[str, str, dict[str, Any], Actor]
OFFSETS = (-0.05, -0.02, 0.0, 0.02, 0.05)
INCOMPLETE: Step = ("completeness-1", "completeness", {"complete": False, "missing": "Uittreksel"},
                    REGISTER)


@dataclass(frozen=True)
class Pause:
    key: str
    before: list[Step]
    action: str
    data: dict[str, Any]
    actor: Actor
    member: bool = True


PAUSES = [
    Pause("association-decision", [], "association_decision", {"outcome": "advise"}, ASSOCIATION),
    Pause("intake-outcome", [("association-decision", "association_decision",
                              {"outcome": "intake_call"}, ASSOCIATION)],
          "intake_outcome", {"held_on": str(TODAY - timedelta(days=2)), "outcome": "advise"},
          ASSOCIATION, member=False),
    Pause("portfolio-reopened", TO_PAYMENT[:1], *TO_PAYMENT[1][1:]),
    Pause("submission", TO_PAYMENT[:2], *TO_PAYMENT[2][1:]),
    Pause("payment", TO_PAYMENT, "payment_received", {"paid_on": str(TODAY)}, REGISTER),
    Pause("completeness-1", TO_REVIEW[:4], "completeness", {"complete": True}, REGISTER),
    Pause("completion-1", [*TO_REVIEW[:4], INCOMPLETE], "completion_supplied",
          {"supplied_on": str(TODAY)}, PRACTITIONER),
    Pause("assignment", TO_REVIEW[:5], *TO_REVIEW[5][1:]),
    Pause("findings-1", TO_REVIEW, "findings", {"outcome": "positive"}, REVIEWER),
    Pause("additions-1", [*TO_REVIEW, ("findings-1", "findings", {
        "outcome": "additions", "explanation": "Meer uren graag."}, REVIEWER)],
          "additions_supplied", {"supplied_on": str(TODAY), "description": "Uren erbij."},
          PRACTITIONER),
]


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[str]:
    with postgres_database() as url:
        migrate(url)
        with herreg_env(database__url=url, smtp__url=f"file://{tmp_path / 'mail'}"):
            yield url


def bound(actor: Actor, case_id: int) -> Actor:
    """A reviewer acts through their link: bound to the case's reviewer and round."""
    if actor.role is not REVIEWER.role:
        return actor
    case = case_row(case_id)
    return replace(actor, reviewer_id=case.reviewer_id, review_round=case.review_round)


async def at_pause(pause: Pause) -> tuple[str, int]:
    opened = await open_case(request(REQUEST_DATE, member=pause.member), actor=ASSOCIATION)
    for key, action, data, actor in pause.before:  # the reviewer is bound once assigned
        assert await run_case(opened.case_id) == key
        await act(opened.number, action, data, actor=bound(actor, opened.case_id), pause_key=key)
    assert await run_case(opened.case_id) == pause.key
    return opened.number, opened.case_id


def after(delay: float, number: str, action: str, data: dict[str, Any], actor: Actor,
          pause_key: str | None = None) -> Callable[[], Any]:
    """`act` after `delay` seconds, in the contender's own thread (the other one runs on)."""
    async def delayed() -> Any:
        time.sleep(max(0.0, delay))
        return await act(number, action, data, actor=actor, pause_key=pause_key)
    return delayed


@pytest.mark.parametrize("pause", PAUSES, ids=[p.key for p in PAUSES])
async def test_a_withdrawal_and_a_decision_at_once_have_one_winner(
        postgres: str, pause: Pause) -> None:
    winners = set()
    for offset in OFFSETS:
        number, case_id = await at_pause(pause)
        actor = bound(pause.actor, case_id)
        decided, withdrew = race(
            after(offset, number, pause.action, pause.data, actor, pause.key),
            after(-offset, number, "withdraw", {"reason": "Toch niet."}, PRACTITIONER))
        refused = [r for r in (decided, withdrew) if isinstance(r, DecisionConflict)]
        assert len(refused) == 1, (offset, decided, withdrew)
        with read_session() as session:
            step = get_decision(session=session, case_id=case_id, pause_key=pause.key)
            withdrawal = get_decision(session=session, case_id=case_id, pause_key="withdraw")
        if isinstance(decided, DecisionConflict):
            assert str(decided) == m.WITHDRAWN_MEANWHILE
            assert step is None and withdrawal is not None
            winners.add("withdraw")
        else:
            assert str(withdrew) == m.DECIDED_MEANWHILE.format(
                title=DECISIONS[pause.action].title)
            assert withdrawal is None and step is not None
            winners.add("decision")
        await run_case(case_id)  # the run carries out what won
        if withdrawal is not None:
            await close(case_id, "withdrawn")
            assert case_row(case_id).state == "withdrawn"
        else:
            assert case_row(case_id).state != "withdrawn"
            if not case_row(case_id).state.is_closed:  # carried out: withdrawing works again
                await act(number, "withdraw", {}, actor=PRACTITIONER)
    assert winners == {"withdraw", "decision"}, winners  # each won where it came first


async def test_a_step_taken_by_the_run_but_not_yet_done_still_wins(postgres: str) -> None:
    """The run has taken the decision at its pause and is doing the step: a withdrawal now
    comes second. Once the next pause opens, withdrawing works again."""
    number, case_id = await at_pause(PAUSES[4])  # payment
    await act(number, "payment_received", {"paid_on": str(TODAY)}, actor=REGISTER,
              pause_key="payment")
    with session_scope() as session:  # as the run's accept_decision does, before the step
        record = get_decision(session=session, case_id=case_id, pause_key="payment")
        assert record is not None
        record.consumed_at = utcnow()
        session.add(record)
    with pytest.raises(DecisionConflict) as refused:
        await act(number, "withdraw", {}, actor=PRACTITIONER)
    assert str(refused.value) == m.DECIDED_MEANWHILE.format(
        title=DECISIONS["payment_received"].title)
    assert await run_case(case_id) == "completeness-1"
    outcome = await act(number, "withdraw", {}, actor=PRACTITIONER)
    assert outcome.number == number
