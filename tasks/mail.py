"""Delivers the outbox. Each mail is claimed before it is sent and marked sent after, so two
deliverers never send the same mail; the transport is chosen by URL (smtp://, file://).

"Once" for mail means at least once with one stable Message-ID: a sender killed between the
SMTP server's 250 and our "sent" mark leaves a claim that expires, and the mail goes out a
second time with the same Message-ID (derived from the outbox key), which receivers and
their servers recognise as the same message. A mail the server refuses for good (5xx), or
that failed `smtp.max_attempts` times over at least `smtp.give_up_hours`, becomes a dead
letter and waits for an operator.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiosmtplib
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import SQLAlchemyError

from adapters.blobs import read_blob
from models.db import session_scope, utcnow
from models.outbox import MailStatus, OutboxMail, claim, deliverable
from settings import get_settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# Three tries within about six seconds: long enough for a blip, short enough for a flow.
SEND_NOW_WAITS = (0, 1, 5)


class DeliveryFailed(Exception):
    """Some mails could not be sent now; they stay pending and the task retries."""


def message_id(key: str) -> str:
    """The same for every send of one outbox mail, and unique to it."""
    local = _UNSAFE.sub("-", key.replace(":", "."))
    return f"<{local}@{get_settings().smtp.message_id_domain}>"


def build_message(mail: OutboxMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = get_settings().smtp.sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = message_id(mail.key)
    message["X-Herregistratie-Key"] = mail.key
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    for attachment in mail.attachments:
        media_type, *options = (part.strip() for part in attachment["media_type"].split(";"))
        main, _, sub = media_type.partition("/")
        params = dict(option.partition("=")[::2] for option in options if "=" in option)
        if main == "text":  # strict clients read text in ASCII unless told ("€ 50,00")
            params.setdefault("charset", "utf-8")
        message.add_attachment(read_blob(attachment["sha256"]), maintype=main, subtype=sub,
                               filename=attachment["filename"], params=params)
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


def is_permanent(err: Exception) -> bool:
    """A 5xx answer: sending the same mail again will be refused again."""
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused):
        return bool(err.recipients) and all(500 <= r.code < 600 for r in err.recipients)
    return isinstance(err, aiosmtplib.SMTPResponseException) and 500 <= err.code < 600


def _given_up(mail: OutboxMail) -> bool:
    """Failed often enough, and for long enough: an SMTP server that is down for minutes or
    hours (every claim counts as an attempt) does not turn the mail into a dead letter."""
    smtp = get_settings().smtp
    return mail.attempts >= smtp.max_attempts \
        and utcnow() - mail.created_at >= timedelta(hours=smtp.give_up_hours)


def _settle(mail_id: int, status: MailStatus, error: str = "") -> None:
    with session_scope() as session:
        row = session.get(OutboxMail, mail_id)
        assert row is not None
        row.status, row.last_error = status, error[:500]
        if status is MailStatus.SENT:
            row.sent_at = utcnow()
        session.add(row)


async def deliver_pending(case_id: int | None = None, *, key: str | None = None) -> int:
    """Sends what is pending (for one case, one key, or all); returns how many went out.
    Raises DeliveryFailed after trying every mail if some may succeed later."""
    with session_scope() as session:
        ids = deliverable(session=session, case_id=case_id, key=key)
    sent, retry_later = 0, []
    for mail_id in ids:
        with session_scope() as session:
            mail = claim(session=session, mail_id=mail_id)
        if mail is None:
            continue
        try:
            await send_message(build_message(mail))
        except (aiosmtplib.SMTPException, OSError) as err:
            error = f"{type(err).__name__}: {err}"
            if is_permanent(err) or _given_up(mail):
                _settle(mail_id, MailStatus.DEAD, error)
            else:
                _settle(mail_id, MailStatus.PENDING, error)
                retry_later.append(f"{mail.key}: {error}")
            continue
        _settle(mail_id, MailStatus.SENT)
        sent += 1
    if retry_later:
        raise DeliveryFailed("; ".join(retry_later))
    return sent


@task(retries=6, retry_delay_seconds=[2, 5, 15, 60, 300, 900], cache_policy=NO_CACHE)
async def deliver_mail(case_id: int | None = None) -> int:
    """Sends each pending mail; retries with backoff while SMTP is down."""
    return await deliver_pending(case_id)


async def send_now(case_id: int) -> None:
    """Within a flow: send what is pending for the case, retrying briefly. It is no Prefect
    task: the outbox's claims keep each mail once, and a task run at every pause would cost
    the Prefect server more than the send. If SMTP or the database stays down, the flow goes
    on rather than hold a process; the mail stays pending for the sweep."""
    failure: Exception | None = None
    for wait in SEND_NOW_WAITS:
        await asyncio.sleep(wait)
        try:
            await deliver_pending(case_id)
            return
        except (DeliveryFailed, SQLAlchemyError) as err:
            failure = err
    get_run_logger().warning("Mail blijft wachten op de sweep: %s", failure)
