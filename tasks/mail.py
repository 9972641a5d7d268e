"""Delivers the outbox. Each mail is claimed before it is sent and marked sent after, so two
deliverers never send the same mail; the transport is chosen by URL (smtp://, file://)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

import aiosmtplib
from prefect import task
from prefect.cache_policies import NO_CACHE

from models.db import session_scope, utcnow
from models.outbox import MailStatus, OutboxMail, claim, deliverable
from settings import get_settings


class DeliveryFailed(Exception):
    """Some mails could not be sent now; they stay pending and the task retries."""


def build_message(mail: OutboxMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = get_settings().smtp.sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    # The outbox key in the Message-ID lets a receiver discard a duplicate after a crash
    # between sending and recording (the only window where a second send is possible).
    message["Message-ID"] = make_msgid(idstring=mail.key.replace(":", "."), domain="herregistratie")
    message["X-Herregistratie-Key"] = mail.key
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


async def send_message(message: EmailMessage) -> None:
    smtp = get_settings().smtp
    url = urlsplit(smtp.url)
    if url.scheme == "file":
        folder = Path(url.path)
        folder.mkdir(parents=True, exist_ok=True)
        name = str(message["X-Herregistratie-Key"]).replace(":", "_")
        (folder / f"{name}.eml").write_bytes(message.as_bytes())
        return
    await aiosmtplib.send(
        message, hostname=url.hostname or "127.0.0.1", port=url.port or 25,
        use_tls=url.scheme == "smtps", timeout=smtp.timeout_seconds,
    )


async def deliver_pending(case_id: int | None = None) -> int:
    """Sends what is pending (for one case or all); returns how many went out."""
    with session_scope() as session:
        ids = deliverable(session=session, case_id=case_id)
    sent, errors = 0, []
    for mail_id in ids:
        with session_scope() as session:
            mail = claim(session=session, mail_id=mail_id)
        if mail is None:
            continue
        try:
            await send_message(build_message(mail))
        except (aiosmtplib.SMTPException, OSError) as err:
            errors.append(f"{mail.key}: {err}")
            with session_scope() as session:
                row = session.get(OutboxMail, mail_id)
                assert row is not None
                row.status, row.last_error = MailStatus.PENDING, str(err)[:500]
                session.add(row)
            continue
        with session_scope() as session:
            row = session.get(OutboxMail, mail_id)
            assert row is not None
            row.status, row.sent_at, row.last_error = MailStatus.SENT, utcnow(), ""
            session.add(row)
        sent += 1
    if errors:
        raise DeliveryFailed("; ".join(errors))
    return sent


@task(retries=6, retry_delay_seconds=[2, 5, 15, 60, 300, 900], cache_policy=NO_CACHE)
async def deliver_mail(case_id: int | None = None) -> int:
    """Sends each pending mail at most once; retries with backoff while SMTP is down."""
    return await deliver_pending(case_id)
