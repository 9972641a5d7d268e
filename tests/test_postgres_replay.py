"""The whole step plan on PostgreSQL (our database and Prefect's), with Prefect's task result
cache turned off so that every resume really replays every earlier step: each mail, invoice
and certificate must still exist exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from cli.demo import VVOCM, walk
from models.certificate import get_certificate
from models.db import read_session
from models.invoice import case_invoices
from service.actions import act, open_case
from tests.conftest import (
    TODAY,
    Mailbox,
    awaiting,
    postgres_database,
    running_stack,
    settled,
    smtp_server,
    wait_until,
)
from tests.factories import request


@pytest.fixture(scope="module")
def postgres_databases() -> Iterator[tuple[str, str]]:
    """Two throwaway databases: ours and the Prefect server's."""
    with postgres_database() as ours, postgres_database("asyncpg") as prefects:
        yield ours, prefects


@pytest.fixture
def own_mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    """Case ids restart in a new database, so this stack gets its own SMTP server."""
    with smtp_server(tmp_path / "eml") as box:
        yield box


async def test_every_step_on_postgres_without_result_cache(
    postgres_databases: tuple[str, str], own_mailbox: Mailbox, tmp_path: Path
) -> None:
    ours, prefects = postgres_databases
    mailbox = own_mailbox
    with running_stack(tmp_path, database_url=ours, prefect_database_url=prefects,
                       persist_task_results=False, mailbox=mailbox):
        opened = await open_case(request(TODAY - timedelta(days=20)), actor=VVOCM)
        for action, data, actor in walk(TODAY):
            await awaiting(opened.number, action, timeout=90)
            outcome = await act(opened.number, action, data, actor=actor)
            assert outcome.delivered, outcome.message
            mailbox.assert_each_once()
        await settled(opened.number, "certified", timeout=90)
        await wait_until(lambda: "certificate_issued" in mailbox.templates(opened.case_id), 30)
        assert mailbox.templates(opened.case_id) == [
            "request_received", "association_check_requested", "intake_call_invited",
            "reopen_advice", "portfolio_reopened", "invoice_issued", "payment_confirmed",
            "completion_requested", "review_assigned", "additions_requested",
            "additions_received", "certificate_issued",
        ]
        mailbox.assert_each_once()
        with read_session() as session:
            assert len(case_invoices(session=session, case_id=opened.case_id)) == 1
            certificate = get_certificate(session=session, case_id=opened.case_id)
            assert certificate is not None and certificate.period_start == TODAY
