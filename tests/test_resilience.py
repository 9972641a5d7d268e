"""SMTP down, Prefect unreachable, replays: a case is never lost and nothing goes out twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings

from cli.stack import Stack, free_port
from domain import messages as m
from domain.errors import DecisionConflict
from flows.sweeps import sweep
from models.case import get_event
from models.db import session_scope
from models.outbox import MailStatus, case_mails
from service.actions import act, open_case
from tasks.cases import acknowledge_request
from tests.conftest import ASSOCIATION, TODAY, Mailbox, awaiting, case_row, settled, wait_until
from tests.factories import request

pytestmark = pytest.mark.usefixtures("stack")


def unreachable_prefect() -> object:
    """Prefect's API on a port where nothing listens: what the service sees when it is down."""
    return temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"})


async def test_mail_waits_while_smtp_is_down_and_goes_out_once(
    stack: Stack, mailbox: Mailbox
) -> None:
    mailbox.stop()
    try:
        opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
        await awaiting(opened.number, "association_decision", timeout=90)
        with session_scope() as session:
            mails = case_mails(session=session, case_id=opened.case_id)
        assert [mail.status for mail in mails] == [MailStatus.PENDING, MailStatus.PENDING]
        assert all(mail.attempts >= 1 and mail.last_error for mail in mails)
        assert mailbox.for_case(opened.case_id) == []
    finally:
        mailbox.start()
    # The sweep delivers them (this one, or a scheduled one that came first).
    await sweep()
    assert mailbox.templates(opened.case_id) == ["request_received",
                                                 "association_check_requested"]
    assert (await sweep())["mailed"] == 0
    mailbox.assert_each_once()


async def test_decision_is_kept_while_prefect_is_unreachable(mailbox: Mailbox) -> None:
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    await awaiting(opened.number, "association_decision")
    with unreachable_prefect():
        outcome = await act(opened.number, "association_decision", {"outcome": "advise"},
                            actor=ASSOCIATION)
    assert not outcome.delivered
    assert outcome.message == m.RECEIVED_QUEUED
    with session_scope() as session:
        decision = get_event(session=session, case_id=opened.case_id,
                             key="decision:association-decision")
        assert decision is not None and decision.resumed_at is None
    assert case_row(opened.number).state == "association_check"
    with pytest.raises(DecisionConflict, match=m.ALREADY_DECIDED):
        await act(opened.number, "association_decision", {"outcome": "advise"},
                  actor=ASSOCIATION)
    await sweep()
    await settled(opened.number, "reopen_advised")
    await wait_until(lambda: "reopen_advice" in mailbox.templates(opened.case_id), 30)
    mailbox.assert_each_once()


async def test_case_opened_while_prefect_is_unreachable_starts_later(mailbox: Mailbox) -> None:
    with unreachable_prefect():
        opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    assert not opened.delivered
    assert case_row(opened.number).flow_run_id is None
    await sweep()
    assert case_row(opened.number).flow_run_id is not None
    await awaiting(opened.number, "association_decision")
    await wait_until(lambda: len(mailbox.for_case(opened.case_id)) == 2, 30)
    mailbox.assert_each_once()


async def test_step_ledger_recognises_a_step_already_done(mailbox: Mailbox) -> None:
    """Replay safety rests on our history, not on Prefect's result cache."""
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    await awaiting(opened.number, "association_decision")
    with session_scope() as session:
        before = len(case_mails(session=session, case_id=opened.case_id))
    assert acknowledge_request.fn(opened.case_id) is False
    with session_scope() as session:
        assert len(case_mails(session=session, case_id=opened.case_id)) == before


async def test_sweep_is_scheduled_by_the_prefect_server() -> None:
    """prefect.yaml schedules the sweep; the server's scheduler must really create its runs
    (SQLAlchemy 2.1 broke Prefect 3.8.8's scheduler without any visible error)."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("sweep/sweep")
        only_sweeps = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        deadline = asyncio.get_running_loop().time() + 150
        while not await client.read_flow_runs(deployment_filter=only_sweeps):
            assert asyncio.get_running_loop().time() < deadline, "no sweep run was scheduled"
            await asyncio.sleep(2)
