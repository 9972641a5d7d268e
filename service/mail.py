"""Mail as staff meet it: dead letters (mail the SMTP server refused for good or that kept
failing), seen on the case page and in the operator view, sent again once the cause (a
mistyped address, a full mailbox) is dealt with; and a sent mail's text."""

from __future__ import annotations

import uuid
from contextlib import suppress

from sqlmodel import col, select

from domain import messages as m
from domain.errors import InvalidTransition, NotAllowed
from domain.states import Role
from models.case import add_note, get_case
from models.db import read_session, session_scope
from models.outbox import MailStatus, OutboxMail
from service.actors import Actor
from tasks.mail import DeliveryFailed, deliver_pending

STAFF = (Role.ASSOCIATION_STAFF, Role.REGISTER_STAFF, Role.OPERATOR)


async def resend_mail(mail_id: int, *, actor: Actor) -> OutboxMail:
    """Puts a dead letter back in the outbox (written in the case history) and tries it now;
    if it fails again it stays pending for the sweep, or dies again."""
    if actor.role not in STAFF:
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label, action=m.RESEND_TITLE))
    with session_scope() as session:
        mail = session.get(OutboxMail, mail_id)
        if mail is None or mail.status is not MailStatus.DEAD:
            raise InvalidTransition(m.MAIL_NOT_DEAD, state=mail.status if mail else "")
        mail.status, mail.attempts, mail.claimed_at = MailStatus.PENDING, 0, None
        session.add(mail)
        if mail.case_id is not None:
            case = get_case(session=session, case_id=mail.case_id, for_update=True)
            add_note(session=session, case=case, key=f"resend:{uuid.uuid4().hex}",
                     action="mail_resent", role=actor.role, name=actor.name,
                     data={"mail": mail.key, "recipient": mail.recipient,
                           "error": mail.last_error})
    with suppress(DeliveryFailed):
        await deliver_pending(mail.case_id)
    with session_scope() as session:
        refreshed = session.get(OutboxMail, mail_id)
        assert refreshed is not None
        return refreshed


def sent_text(key_prefix: str) -> str:
    """The plain text of the one mail whose outbox key starts with `key_prefix` (the demo
    follows the link in the confirmation mail a practitioner got)."""
    with read_session() as session:
        mail = session.exec(select(OutboxMail).where(
            col(OutboxMail.key).startswith(key_prefix))).one()
        return str(mail.text)
