"""Writing a mail: rendered from its template and added to the outbox in the caller's
transaction, so it goes out if and only if what it reports is committed, and once per key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlmodel import Session

from adapters.blobs import store_blob
from adapters.papers import Attachment
from adapters.rendering import render_mail
from models.outbox import OutboxMail, get_mail


def write_mail(session: Session, *, key: str, template: str, recipient: str,
               context: Mapping[str, object], case_id: int | None = None,
               attach: Sequence[Attachment] = ()) -> bool:
    """False if a mail with this key is already in the outbox (nothing is written then).
    Attachments are kept by their hash (adapters/blobs.py) and added when the mail is sent."""
    if get_mail(session=session, key=key) is not None:
        return False
    rendered = render_mail(template, context)
    session.add(OutboxMail(
        key=key, case_id=case_id, template=template, recipient=recipient,
        subject=rendered.subject, text=rendered.text, html=rendered.html,
        attachments=[{"filename": a.filename, "media_type": a.media_type,
                      "sha256": store_blob(a.content)} for a in attach]))
    return True
