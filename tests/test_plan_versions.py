"""Cases keep the plan they started with (issue 22). A case waits at its payment when the plan
changes: a pause is inserted before the payment and another after it, both declared `since=2`.
The waiting case goes on without either pause and with nothing done twice; a case opened after
the change meets both. The change is made as a release would make it: new declarations, the
flow's calls (here wrapped around the payment's), PLAN_VERSION raised. Offline database, real
SMTP server, the replay executor."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import flows.lapsed_specialisation as lapsed
from domain import procedure
from domain.decisions import Decision
from domain.procedure import PAYMENT, Pause, Wait
from domain.states import Party, Role
from flows.executor import Executor, follows
from flows.lapsed_specialisation import decide as decide_in_plan_1
from service.actions import open_case
from settings import DeadlineRules
from tests.conftest import ASSOCIATION, REGISTER, Mailbox, case_row
from tests.factories import request as case_request
from tests.replay import run_case
from tests.test_step_plan import REQUEST_DATE, TO_PAYMENT, events, walk

pytestmark = pytest.mark.usefixtures("offline")


class BeforePayment(Decision):
    action = "before_payment"
    title = "Controle vóór de betaling"
    roles = frozenset({Role.REGISTER_STAFF})


class AfterPayment(Decision):
    action = "after_payment"
    title = "Controle na de betaling"
    roles = frozenset({Role.REGISTER_STAFF})


def added(key: str, kind: type[Decision]) -> Pause[Any]:
    return Pause(key, kind, waits_in=PAYMENT.waits_in, days=14, since=2,
                 wait=Wait(Party.REGISTER, "een extra controle", "het KP", "Het KP controleert."),
                 reached="de extra controle staat klaar")


BEFORE, AFTER = added("before-payment", BeforePayment), added("after-payment", AfterPayment)
PAID = ("payment", "payment_received", {"paid_on": "2026-05-28"}, REGISTER)


def release_plan_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """The release: plan 2 declares both pauses and the flow waits at them around the
    payment, asking `follows` first, as every later addition must."""
    async def decide(run: Executor, case_id: int, pause: Pause[Any],
                     round: int | None = None) -> Any:
        if pause is PAYMENT and follows(run, BEFORE):
            await decide_in_plan_1(run, case_id, BEFORE)
        decided = await decide_in_plan_1(run, case_id, pause, round)
        if pause is PAYMENT and follows(run, AFTER):
            await decide_in_plan_1(run, case_id, AFTER)
        return decided

    monkeypatch.setattr(lapsed, "decide", decide)
    monkeypatch.setattr(procedure, "PLAN_VERSION", 2)
    for pause in (BEFORE, AFTER):
        monkeypatch.setitem(procedure.PAUSE_BY_ACTION, pause.action, pause)
        monkeypatch.setitem(procedure.PAUSE_BY_KEY, pause.key, pause)
        monkeypatch.setitem(procedure.DECISIONS, pause.action, pause.decision)
    days_for = DeadlineRules.days_for
    monkeypatch.setattr(DeadlineRules, "days_for", lambda self, p: p.days
                        if p in (BEFORE, AFTER) else days_for(self, p))


async def test_a_running_case_keeps_its_plan_and_a_new_case_gets_the_new_one(
        mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    running = await open_case(case_request(REQUEST_DATE), actor=ASSOCIATION)
    assert case_row(running.case_id).plan_version == 1
    assert await walk(running.number, running.case_id, TO_PAYMENT) == "payment"

    release_plan_2(monkeypatch)  # while the case waits at its payment

    assert await walk(running.number, running.case_id, [PAID]) == "completeness-1"
    keys = [e.key for e in events(running.case_id)]
    assert [k for k in keys if "before-payment" in k or "after-payment" in k] == []
    assert [k for k, n in Counter(keys).items() if n > 1] == [], "nothing twice"
    assert await run_case(running.case_id) == "completeness-1"

    new = await open_case(case_request(REQUEST_DATE), actor=ASSOCIATION)
    assert case_row(new.case_id).plan_version == 2
    assert await walk(new.number, new.case_id, [
        *TO_PAYMENT,
        ("before-payment", "before_payment", {}, REGISTER),
        PAID,
        ("after-payment", "after_payment", {}, REGISTER)]) == "completeness-1"
    mailbox.assert_each_once()


async def test_a_pause_of_a_later_plan_is_refused_without_the_question() -> None:
    """The flow must ask `follows` before a pause added later: without it a case of an older
    plan would get the pause, so the run refuses before it opens anything."""
    class OldCase:
        plan_version = 1

    with pytest.raises(ValueError, match="before-payment came with plan 2"):
        await decide_in_plan_1(OldCase(), 0, BEFORE)  # type: ignore[arg-type]
