"""Who a practitioner is changes only by a person's recorded decision: a staff member's
deliberate change of name or e-mail address, or their decision on a conflict an import
found. Each is written down with who, when, before, after and why.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, EmailStr, Field
from sqlmodel import Session

from domain import messages as m
from domain.errors import DecisionConflict, InvalidInput, NotAllowed
from models.case import find_case
from models.db import read_session, session_scope, utcnow
from models.practitioner import IdentityConflict, Practitioner, PractitionerChange, get_by_kp_number
from service.actors import MAY_CHANGE_IDENTITY, Actor
from service.validation import parse_input


class IdentityChange(BaseModel):
    """A staff member's deliberate change of a practitioner's name or e-mail address."""

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    reason: str = Field(min_length=1, max_length=500)


def change_identity(kp_number: str, data: dict[str, Any], *, actor: Actor) -> Practitioner:
    """Staff change a practitioner's name or e-mail address on purpose; the change, its reason
    and the staff member are written down. Later mails and the register use the new data."""
    if actor.role not in MAY_CHANGE_IDENTITY:
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label,
                                                   action=m.IDENTITY_TITLE))
    change: IdentityChange = parse_input(IdentityChange, data)
    with session_scope() as session:
        practitioner = get_by_kp_number(session=session, kp_number=kp_number.strip())
        if practitioner is None:
            raise InvalidInput({"kp_number": m.PRACTITIONER_UNKNOWN.format(kp=kp_number)})
        _rename(session, practitioner, change.name.strip(), str(change.email), actor=actor,
                reason=change.reason)
        return practitioner


def change_case_identity(case_ref: str, data: dict[str, Any], *, actor: Actor) -> Practitioner:
    """`change_identity` for the practitioner of a case."""
    with read_session() as session:
        case = find_case(session=session, ref=case_ref)
        practitioner = session.get(Practitioner, case.practitioner_id)
        assert practitioner is not None
        kp_number = practitioner.kp_number
    return change_identity(kp_number, data, actor=actor)


def resolve_conflict(conflict_id: int, *, apply: bool, reason: str,
                     actor: Actor) -> IdentityConflict:
    """A person's decision on an identity conflict from an import: apply the export's name and
    e-mail address (a recorded identity change, as "Naam of e-mailadres wijzigen"), or set it
    aside. Either is written down with who and why."""
    if actor.role not in MAY_CHANGE_IDENTITY:
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label,
                                                   action=m.IDENTITY_TITLE))
    if not reason.strip():
        raise InvalidInput({"reason": m.CONFLICT_REASON_REQUIRED})
    with session_scope() as session:
        conflict = session.get(IdentityConflict, conflict_id, with_for_update=True)
        if conflict is None or conflict.resolved_at is not None:
            raise DecisionConflict(m.CONFLICT_GONE)
        practitioner = session.get(Practitioner, conflict.practitioner_id)
        assert practitioner is not None
        if apply:
            _rename(session, practitioner, conflict.name, conflict.email, actor=actor,
                    reason=f"{reason.strip()} ({conflict.source})"[:500])
        conflict.resolved_at, conflict.resolved_by = utcnow(), actor.name
        conflict.applied, conflict.reason = apply, reason.strip()[:500]
        session.add(conflict)
        return conflict


def _rename(session: Session, practitioner: Practitioner, name: str, email: str, *,
            actor: Actor, reason: str) -> None:
    """The change and its record, in the caller's transaction."""
    before = {"name": practitioner.name, "email": practitioner.email}
    practitioner.name, practitioner.email = name, email
    session.add(practitioner)
    session.add(PractitionerChange(
        practitioner_id=practitioner.id or 0, actor_role=actor.role, actor_name=actor.name,
        before=before, after={"name": name, "email": email}, reason=reason))
