"""The mail outbox: rendered with the transition, delivered later, once per key.

A mail that keeps failing, or that the server refuses for good (5xx), becomes a dead letter:
it is not retried blindly, shows on the case page and in the operator's view, and can be
sent again by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, Column, Text, or_, update
from sqlmodel import Field, Session, SQLModel, col, select

from models.db import UTCDateTime, utcnow

# A send takes seconds (SMTP timeout 10 s); an older claim belongs to a sender that died.
CLAIM_TIMEOUT = timedelta(minutes=2)


class MailStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class OutboxMail(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=120, description="case:step:template")
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    template: str = Field(max_length=60)
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    text: str = Field(sa_type=Text)
    html: str = Field(sa_type=Text)
    attachments: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False),
        description="filename, media_type and sha256 (adapters/blobs.py) of each attachment")
    status: MailStatus = Field(default=MailStatus.PENDING, index=True)
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def get_mail(*, session: Session, key: str) -> OutboxMail | None:
    return session.exec(select(OutboxMail).where(OutboxMail.key == key)).first()


def deliverable(*, session: Session, case_id: int | None = None,
                key: str | None = None) -> list[int]:
    """Ids of mails to send (of one case, or the one mail with `key`): pending, or claimed by
    a sender that died long ago."""
    stale = utcnow() - CLAIM_TIMEOUT
    statement = select(OutboxMail.id).where(
        or_(
            col(OutboxMail.status) == MailStatus.PENDING,
            (col(OutboxMail.status) == MailStatus.SENDING) & (col(OutboxMail.claimed_at) < stale),
        )
    )
    if case_id is not None:
        statement = statement.where(OutboxMail.case_id == case_id)
    if key is not None:
        statement = statement.where(OutboxMail.key == key)
    return [i for i in session.exec(statement.order_by(col(OutboxMail.id))) if i is not None]


def claim(*, session: Session, mail_id: int) -> OutboxMail | None:
    """Atomically take a mail for sending; None if someone else has it or it went out."""
    now = utcnow()
    taken = session.execute(
        update(OutboxMail)
        .where(col(OutboxMail.id) == mail_id)
        .where(
            or_(
                col(OutboxMail.status) == MailStatus.PENDING,
                (col(OutboxMail.status) == MailStatus.SENDING)
                & (col(OutboxMail.claimed_at) < now - CLAIM_TIMEOUT),
            )
        )
        .values(status=MailStatus.SENDING, claimed_at=now, attempts=OutboxMail.attempts + 1)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(OutboxMail, mail_id)


def case_mails(*, session: Session, case_id: int) -> list[OutboxMail]:
    return list(
        session.exec(
            select(OutboxMail).where(OutboxMail.case_id == case_id).order_by(col(OutboxMail.id))
        )
    )


def dead_letters(*, session: Session) -> list[OutboxMail]:
    return list(session.exec(select(OutboxMail).where(OutboxMail.status == MailStatus.DEAD)
                             .order_by(col(OutboxMail.id))))
