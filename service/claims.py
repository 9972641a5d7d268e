"""Claims: a staff member says "I am working on this step", so a colleague does not decide it
meanwhile. A claim belongs to the step, not to the case: it ends when the case moves on to
another pause, when the step is no longer for the holder's role, when the holder's account
is deactivated, or after `web.claim_hours`. Staff who may decide the step can take it over;
admins can release any claim. Take-overs and releases by others are written in the history.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session, select

from domain import messages as m
from domain.errors import DecisionConflict, InvalidTransition, NotAllowed
from domain.procedure import DECISIONS
from domain.states import Role
from models.case import Case, add_note, find_case
from models.db import session_scope, utcnow
from models.staff import StaffRole, StaffUser
from service.actors import Actor
from settings import get_settings

STAFF_ROLES = {StaffRole.ASSOCIATION_STAFF: Role.ASSOCIATION_STAFF,
               StaffRole.REGISTER_STAFF: Role.REGISTER_STAFF, StaffRole.ADMIN: Role.OPERATOR}


def claim_holder(session: Session, case: Case) -> StaffUser | None:
    """Who holds the current step, if anyone: a claim past its step, role, account or time
    holds nothing."""
    if case.claimed_by_id is None or case.claim_key is None or case.claimed_at is None:
        return None
    if case.state.is_closed or case.claim_key != case.awaiting_key:
        return None
    if utcnow() - case.claimed_at > timedelta(hours=get_settings().web.claim_hours):
        return None
    holder = session.get(StaffUser, case.claimed_by_id)
    step = DECISIONS.get(case.awaiting_action or "")
    if holder is None or not holder.active or step is None \
            or STAFF_ROLES[holder.role] not in step.roles:
        return None
    return holder


def check_claim(session: Session, case: Case, actor: Actor) -> None:
    """A step claimed by one staff member is not decided by another meanwhile."""
    if actor.staff_id is None:
        return
    holder = claim_holder(session, case)
    if holder is not None and holder.id != actor.staff_id:
        raise DecisionConflict(m.CLAIMED_BY_OTHER.format(name=holder.name))


def claim(case_ref: str, *, actor: Actor, take_over: bool = False) -> Case:
    """Take the current step. Someone else's claim is only taken over when asked for."""
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref, for_update=True)
        step = DECISIONS.get(case.awaiting_action or "")
        if case.state.is_closed or step is None or case.awaiting_key is None:
            raise InvalidTransition(m.NOTHING_TO_CLAIM, state=case.state)
        if actor.staff_id is None or actor.role not in step.roles:
            raise NotAllowed(m.CLAIM_NOT_YOUR_STEP.format(action=step.title))
        holder = claim_holder(session, case)
        if holder is not None and holder.id != actor.staff_id:
            if not take_over:
                raise DecisionConflict(m.CLAIMED_BY_OTHER.format(name=holder.name))
            add_note(session=session, case=case, key=f"claim:{uuid.uuid4().hex}",
                     action="claim_taken_over", role=actor.role, name=actor.name,
                     data={"from": holder.name, "step": case.awaiting_key})
        case.claimed_by_id, case.claim_key, case.claimed_at = (
            actor.staff_id, case.awaiting_key, utcnow())
        session.add(case)
        return case


def release(case_ref: str, *, actor: Actor) -> Case:
    """The holder gives the step back; an admin may release anyone's claim (recorded)."""
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref, for_update=True)
        holder = claim_holder(session, case)
        if holder is not None and holder.id != actor.staff_id:
            if actor.role is not Role.OPERATOR:
                raise DecisionConflict(m.CLAIMED_BY_OTHER.format(name=holder.name))
            add_note(session=session, case=case, key=f"claim:{uuid.uuid4().hex}",
                     action="claim_released", role=actor.role, name=actor.name,
                     data={"from": holder.name, "step": case.awaiting_key})
        case.claimed_by_id = case.claim_key = case.claimed_at = None
        session.add(case)
        return case


def end_claims_of(session: Session, staff_id: int) -> None:
    """A deactivated account holds nothing."""
    for case in session.exec(select(Case).where(Case.claimed_by_id == staff_id)):
        case.claimed_by_id = case.claim_key = case.claimed_at = None
        session.add(case)
