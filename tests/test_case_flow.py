"""Every branch of the step plan end to end, on a real Prefect server, worker and SMTP server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta

from cli.stack import Stack
from models.certificate import get_certificate
from models.db import session_scope
from models.registration import latest_registration
from service.actions import act, open_case
from tests.conftest import (
    ASSOCIATION,
    PRACTITIONER,
    REGISTER,
    REVIEWER,
    TODAY,
    Mailbox,
    awaiting,
    settled,
    wait_until,
)
from tests.factories import request

pytestmark = pytest.mark.usefixtures("stack")


async def step(ref: str, action: str, data: dict[str, object], actor: object,
               mailbox: Mailbox, mail: str | None = None) -> None:
    """Act once the run waits for `action`; then the step's mail must arrive promptly."""
    await awaiting(ref, action)
    outcome = await act(ref, action, data, actor=actor)  # type: ignore[arg-type]
    assert outcome.delivered, outcome.message
    if mail is not None:
        case_id = outcome.case_id
        await wait_until(lambda: mail in mailbox.templates(case_id), 30, f"mail {mail}")
    mailbox.assert_each_once()


async def test_member_case_runs_to_certificate(stack: Stack, mailbox: Mailbox) -> None:
    request_date = TODAY - timedelta(days=30)
    opened = await open_case(request(request_date), actor=ASSOCIATION)
    ref = opened.number
    submitted_on = TODAY - timedelta(days=3)
    await step(ref, "association_decision", {"outcome": "advise"}, ASSOCIATION, mailbox,
               "reopen_advice")
    await step(ref, "portfolio_reopened", {"reopened_on": str(TODAY - timedelta(days=10))},
               REGISTER, mailbox, "portfolio_reopened")
    await step(ref, "submit", {"submitted_on": str(submitted_on)}, PRACTITIONER, mailbox,
               "invoice_issued")
    await step(ref, "payment_received", {"paid_on": str(TODAY)}, REGISTER, mailbox,
               "payment_confirmed")
    await step(ref, "completeness", {"complete": True}, REGISTER, mailbox)
    await step(ref, "assign_reviewer", {"reviewer_name": "Dr. R. Beoordelaar",
                                        "reviewer_email": "reviewer@example.org"},
               REGISTER, mailbox, "review_assigned")
    await step(ref, "findings", {"outcome": "positive"}, REVIEWER, mailbox,
               "certificate_issued")
    case = await settled(ref, "certified")
    await wait_until(lambda: "certificate_issued" in mailbox.templates(case.id), 30)
    assert mailbox.templates(case.id) == [
        "request_received", "association_check_requested", "reopen_advice",
        "portfolio_reopened", "invoice_issued", "payment_confirmed", "review_assigned",
        "certificate_issued",
    ]
    mailbox.assert_each_once()
    with session_scope() as session:
        certificate = get_certificate(session=session, case_id=case.id)
        assert certificate is not None
        assert certificate.period_start == submitted_on
        assert certificate.period_end == submitted_on + relativedelta(years=5) - timedelta(days=1)
        registration = latest_registration(session=session,
                                           practitioner_id=case.practitioner_id,
                                           specialisation="KOT")
        assert registration is not None and registration.visible
        assert registration.period_start == submitted_on
