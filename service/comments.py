"""Internal comments on a case: staff write to each other; practitioners and reviewers never
see them (they live in the staff history only)."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError

from domain import messages as m
from domain.errors import InvalidInput, NotAllowed
from models.case import CaseEvent, EventKind, add_note, find_case, get_event
from models.db import session_scope
from service.actors import Actor

MAX_LENGTH = 2000
COMMENT = "comment"
FORM_ID = re.compile(r"[0-9a-f]{32}")


def add_comment(case_ref: str, text: str, *, actor: Actor, form_id: str) -> None:
    """Once per form: a double click or a resent form adds nothing (the form's id is the key)."""
    text = text.strip()
    if not text:
        raise InvalidInput({"opmerking": m.FIELD_TEXT_REQUIRED})
    if len(text) > MAX_LENGTH:
        raise InvalidInput({"opmerking": m.FIELD_TOO_LONG.format(max=MAX_LENGTH)})
    if actor.staff_id is None:
        raise NotAllowed(m.COMMENTS_STAFF_ONLY)
    if not FORM_ID.fullmatch(form_id):
        raise InvalidInput({"opmerking": m.FORM_EXPIRED})
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref, for_update=True)
        key = f"{COMMENT}:{form_id}"
        if get_event(session=session, case_id=case.id or 0, key=key) is not None:
            return
        try:
            with session.begin_nested():
                add_note(session=session, case=case, key=key, action=COMMENT, role=actor.role,
                         name=actor.name, data={"text": text})
        except IntegrityError:
            pass  # the same form, sent twice at once: the first one counts


def comments(events: list[CaseEvent]) -> list[CaseEvent]:
    return [e for e in events if e.kind is EventKind.NOTE and e.action == COMMENT]
