"""Fifty decisions at once against the live stack (issue 19): the web app as its own process,
its database pool made small on purpose so that requests must wait for a connection. No
answer is a 500: each is 202 (recorded) or a Dutch 503 that says nothing was recorded, and
that is true of each; what was recorded is carried out, each mail once.

Before, each request held a connection from its login check while the service asked the
pool for a second one: fifteen requests held the pool and waited for each other until the
pool gave up (30 s), and some were told 500 after their decision had been recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from domain import messages as m
from models.db import read_session
from models.decision import get_decision
from service.accounts import new_api_token
from service.actions import open_case
from stack.processes import Stack
from tests.conftest import ASSOCIATION, TODAY, Mailbox, awaiting, make_staff, wait_until
from tests.factories import request

DECISIONS = 50


@pytest.fixture(scope="module")
def small_pool_web(stack: Stack) -> str:
    """A second web process of the stack with a pool of three connections and a short wait."""
    return stack.start_web(env={"HERREG_DATABASE__POOL_SIZE": "3",
                                "HERREG_DATABASE__MAX_OVERFLOW": "0",
                                "HERREG_DATABASE__POOL_TIMEOUT": "2"})


async def test_fifty_decisions_at_once_get_no_500_and_each_answer_is_true(
        small_pool_web: str, mailbox: Mailbox) -> None:
    cases = []
    for start in range(0, DECISIONS, 10):
        cases += await asyncio.gather(*(open_case(request(TODAY), actor=ASSOCIATION)
                                        for _ in range(start, start + 10)))
    for case in cases:
        await awaiting(case.number, "association_decision", timeout=180)
    user = make_staff("association_staff")
    headers = {"Authorization": f"Bearer {new_api_token(staff_id=user.id, name='burst')}"}

    async with httpx.AsyncClient(base_url=small_pool_web, headers=headers,
                                 timeout=120) as client:
        async def decide(number: str) -> httpx.Response:
            return await client.post(f"/api/v1/cases/{number}/association_decision",
                                     params={"pause_key": "association-decision"},
                                     json={"outcome": "advise"})

        answers = await asyncio.gather(*(decide(case.number) for case in cases))

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {202, 503}, statuses
    busy = [(case, answer) for case, answer in zip(cases, answers, strict=True)
            if answer.status_code == 503]
    with read_session() as session:
        recorded = {case.number for case in cases if get_decision(
            session=session, case_id=case.case_id, pause_key="association-decision")}
    for case, answer in busy:
        assert answer.json()["detail"] == m.NOTHING_RECORDED
        assert answer.headers["retry-after"]
        assert case.number not in recorded, f"{case.number}: told not recorded, but it was"
    done = [case for case, answer in zip(cases, answers, strict=True)
            if answer.status_code == 202]
    assert done and {case.number for case in done} == recorded
    for case in done:
        await awaiting(case.number, "portfolio_reopened", timeout=300)

    def mailed() -> Any:
        return all("reopen_advice" in mailbox.templates(case.case_id) for case in done)

    await wait_until(mailed, 120, "the advice mails")
    mailbox.assert_each_once()
