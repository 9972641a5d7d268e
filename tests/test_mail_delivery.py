"""Mail is at least once with one stable Message-ID, and a mail that cannot be delivered ends
as a dead letter that staff see and can send again, instead of being retried blindly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from domain.errors import InvalidTransition
from models.db import read_session, session_scope, utcnow
from models.outbox import MailStatus, OutboxMail, case_mails, claim
from service.actions import open_case
from service.identity import change_identity
from service.mail import resend_mail
from settings import get_settings
from stack.processes import free_port
from tasks.cases import acknowledge_request
from tasks.mail import DeliveryFailed, build_message, deliver_pending, message_id, send_message
from tests.conftest import ASSOCIATION, REGISTER, TODAY, Mailbox, login, make_staff
from tests.factories import request

pytestmark = pytest.mark.usefixtures("offline")


class Refusing:
    """An SMTP server that refuses one mailbox for good (550), and takes all others."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []

    async def handle_RCPT(self, _server: Any, _session: Any, envelope: Any, address: str,
                          _options: Any) -> str:
        if address.startswith("bestaat-niet"):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        return "250 OK"


@pytest.fixture
def refusing_smtp() -> Iterator[Refusing]:
    handler = Refusing()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    saved = os.environ["HERREG_SMTP__URL"]
    os.environ["HERREG_SMTP__URL"] = f"smtp://127.0.0.1:{controller.port}"
    get_settings.cache_clear()
    try:
        yield handler
    finally:
        controller.stop()
        os.environ["HERREG_SMTP__URL"] = saved
        get_settings.cache_clear()


def mails(case_id: int) -> list[OutboxMail]:
    with read_session() as session:
        return case_mails(session=session, case_id=case_id)


async def test_the_message_id_comes_from_the_outbox_key_so_a_resend_carries_the_same(
        mailbox: Mailbox) -> None:
    """A sender killed between the SMTP server's 250 and our 'sent' mark sends again once its
    claim is stale: the receiver gets the same Message-ID twice and can drop the copy."""
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    acknowledge_request.fn(opened.case_id)  # the first step: its two mails wait in the outbox
    with session_scope() as session:
        first = case_mails(session=session, case_id=opened.case_id)[0]
        taken = claim(session=session, mail_id=first.id or 0)
        assert taken is not None
    await send_message(build_message(taken))  # ... and the sender dies here
    with session_scope() as session:
        row = session.get(OutboxMail, first.id)
        assert row is not None and row.status is MailStatus.SENDING
        row.claimed_at = utcnow() - timedelta(minutes=10)
        session.add(row)
    await deliver_pending(opened.case_id)
    copies = [m for m in mailbox.messages if m["X-Herregistratie-Key"] == first.key]
    assert len(copies) == 2
    assert copies[0]["Message-ID"] == copies[1]["Message-ID"] == message_id(first.key)
    # Every other mail of the case went out once, each with its own Message-ID.
    ids = {str(m["Message-ID"]) for m in mailbox.for_case(opened.case_id)}
    assert len(ids) == len(mails(opened.case_id))
    # The receiver drops the copy by its Message-ID; so does the shared test mailbox, whose
    # other users check that nothing else arrived twice.
    mailbox.messages.remove(copies[1])


async def test_a_permanent_refusal_is_a_dead_letter_at_once(refusing_smtp: Refusing) -> None:
    data = request(TODAY - timedelta(days=3))
    data["email"] = f"bestaat-niet-{data['kp_number']}@example.org"
    opened = await open_case(data, actor=ASSOCIATION)
    acknowledge_request.fn(opened.case_id)
    await deliver_pending(opened.case_id)  # no DeliveryFailed: nothing to retry later
    by_template = {mail.template: mail for mail in mails(opened.case_id)}
    dead = by_template["request_received"]
    assert (dead.status, dead.attempts) == (MailStatus.DEAD, 1)
    assert "550" in dead.last_error
    assert by_template["association_check_requested"].status is MailStatus.SENT
    await deliver_pending(opened.case_id)
    assert [m.attempts for m in mails(opened.case_id) if m.status is MailStatus.DEAD] == [1]


async def test_an_smtp_outage_of_minutes_kills_no_mail(mailbox: Mailbox) -> None:
    os.environ["HERREG_SMTP__MAX_ATTEMPTS"] = "3"
    get_settings.cache_clear()
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    acknowledge_request.fn(opened.case_id)
    mailbox.stop()
    try:
        for _ in range(5):
            with pytest.raises(DeliveryFailed):
                await deliver_pending(opened.case_id)
    finally:
        mailbox.start()
    assert {m.status for m in mails(opened.case_id)} == {MailStatus.PENDING}
    assert await deliver_pending(opened.case_id) == 2


async def test_a_mail_that_keeps_failing_becomes_a_dead_letter(mailbox: Mailbox) -> None:
    os.environ.update({"HERREG_SMTP__MAX_ATTEMPTS": "3", "HERREG_SMTP__GIVE_UP_HOURS": "0"})
    get_settings.cache_clear()
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    acknowledge_request.fn(opened.case_id)
    mailbox.stop()
    try:
        for attempt in range(1, 4):
            with pytest.raises(DeliveryFailed) if attempt < 3 else nullcontext():
                await deliver_pending(opened.case_id)
            assert {m.attempts for m in mails(opened.case_id)} == {attempt}
    finally:
        mailbox.start()
    assert {m.status for m in mails(opened.case_id)} == {MailStatus.DEAD}
    await deliver_pending(opened.case_id)
    assert mailbox.for_case(opened.case_id) == []


async def test_staff_see_a_dead_letter_and_send_it_again_after_fixing_the_address(
        refusing_smtp: Refusing, offline_client: TestClient) -> None:
    data = request(TODAY - timedelta(days=3))
    data["email"] = f"bestaat-niet-{data['kp_number']}@example.org"
    opened = await open_case(data, actor=ASSOCIATION)
    acknowledge_request.fn(opened.case_id)
    await deliver_pending(opened.case_id)
    dead = next(m for m in mails(opened.case_id) if m.status is MailStatus.DEAD)
    kp = make_staff("register_staff")
    login(offline_client, kp)
    page = offline_client.get(f"/zaken/{opened.number}")
    assert "Onbestelbare e-mail" in page.text and dead.recipient in page.text
    admin = TestClient(offline_client.app)
    login(admin, make_staff("admin"))
    assert dead.recipient in admin.get("/beheer").text
    # Resending to the same refused address dies again, and says so.
    again = await resend_mail(dead.id or 0, actor=REGISTER)
    assert again.status is MailStatus.DEAD
    # The address is corrected (a recorded staff action); the stored mail keeps its
    # recipient, so staff resend after fixing the cause outside (here: the server accepts).
    change_identity(data["kp_number"], {"name": data["name"],
                                        "email": f"goed-{data['kp_number']}@example.org",
                                        "reason": "Typefout in het adres"}, actor=REGISTER)
    with session_scope() as session:
        row = session.get(OutboxMail, dead.id)
        assert row is not None
        row.recipient = f"goed-{data['kp_number']}@example.org"
        session.add(row)
    sent = await resend_mail(dead.id or 0, actor=REGISTER)
    assert sent.status is MailStatus.SENT
    assert any(m["X-Herregistratie-Key"] == dead.key for m in refusing_smtp.received)
    with pytest.raises(InvalidTransition):
        await resend_mail(dead.id or 0, actor=REGISTER)
