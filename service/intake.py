"""Planning the online intake call (R7): VvOCM offers times on the case page, the practitioner
picks one on the status page, and both get the call as a calendar invitation (.ics) with the
video link, and for non-members the fee.

Offering again replaces the times not picked, and moves a picked call that still lies ahead
(its cancellation goes to both calendars: `cancel_planned_call` in tasks/cases.py). A pick is
once per offer (a history row with a unique key), so a double click or two tabs make one
appointment and one pair of mails.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

from pydantic import BaseModel, Field, HttpUrl, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete

from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition, NotAllowed
from domain.formatting import AMSTERDAM, format_moment
from domain.procedure import INTAKE_OUTCOME
from domain.states import CaseState, Party
from domain.working_days import due_date
from models.case import CaseEvent, EventKind, find_case, get_case, get_event
from models.db import session_scope, utcnow
from models.intake import OFFERED, IntakeSlot, chosen_key, chosen_slot, offer_round
from service.actors import MAY_PLAN_INTAKE, Actor
from service.validation import parse_input
from settings import get_settings
from tasks.cases import cancel_planned_call, invite
from tasks.mail import DeliveryFailed, deliver_pending
from tasks.transitions import side_step

MAX_SLOTS = 5


class SlotOffer(BaseModel):
    """Times in Amsterdam's local time, as staff type them."""

    starts: list[datetime] = Field(min_length=1, max_length=MAX_SLOTS)
    minutes: int = Field(45, ge=15, le=180)
    video_link: HttpUrl

    @field_validator("starts")
    @classmethod
    def _not_in_the_past(cls, starts: list[datetime]) -> list[datetime]:
        local = [s.replace(tzinfo=AMSTERDAM) if s.tzinfo is None else s for s in starts]
        if any(s.astimezone(AMSTERDAM).date() < get_settings().current_date() for s in local):
            raise ValueError(m.SLOT_IN_PAST)
        return sorted(set(local))


async def offer_slots(case_ref: str, data: dict[str, object], *,
                      actor: Actor) -> list[IntakeSlot]:
    """Times for the practitioner to pick from. Offered again, they replace the times not
    picked; a picked time that still lies ahead is moved: both calendars get its
    cancellation, and the practitioner picks again. From now on the wait is the
    practitioner's (the intake pause's wait within it, domain/procedure.py): pick by its days
    (`deadlines.intake_pick`), at the latest on the last time's day (else the case expires, as
    any other wait on the practitioner does)."""
    if actor.role not in MAY_PLAN_INTAKE:
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label, action=m.SLOTS_TITLE))
    offer: SlotOffer = parse_input(SlotOffer, data)
    today = get_settings().current_date()
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref, for_update=True)
        if case.state is not CaseState.INTAKE_CALL or case.awaiting_key is None:
            raise InvalidTransition(m.SLOTS_NOT_NOW.format(label=case.state.label),
                                    state=case.state)
        picked = chosen_slot(session, case.id or 0)
        if picked is not None and picked.starts_at <= get_settings().current_moment():
            raise InvalidTransition(m.SLOT_ALREADY_HELD, state=case.state)
        rounds = offer_round(session, case.id or 0)
        key = f"{OFFERED}{rounds + 1}"
        step = side_step(session, case, key.replace(":", "-"))
        moved = picked is not None and cancel_planned_call(step, reason=m.INTAKE_MOVED)
        session.execute(delete(IntakeSlot).where(col(IntakeSlot.case_id) == case.id))
        slots = [IntakeSlot(case_id=case.id or 0, starts_at=start, minutes=offer.minutes,
                            video_link=str(offer.video_link)) for start in offer.starts]
        session.add_all(slots)
        last_day = max(offer.starts).astimezone(AMSTERDAM).date()
        picking = INTAKE_OUTCOME.wait_on(Party.PRACTITIONER)
        case.due_on = min(due_date(today, get_settings().deadlines.days_for(picking)), last_day)
        case.awaiting_party = picking.party
        session.add(case)
        step.mail("intake_slots_offered", "practitioner", slots=offer.starts,
                  minutes=offer.minutes, pick_by=case.due_on, moved=moved)
        session.add(CaseEvent(
            case_id=case.id or 0, key=key, kind=EventKind.NOTE, actor_role=actor.role,
            actor_name=actor.name, action="intake_slots_offered",
            input={"times": [s.isoformat() for s in offer.starts],
                   "pick_by": case.due_on.isoformat(), "moved": moved},
            from_state=case.state, to_state=case.state, mails=step.mails))
        session.flush()
        case_id = case.id or 0
    await _deliver(case_id)
    return slots


async def choose_slot(case_id: int, slot_id: int, *, actor: Actor) -> IntakeSlot:
    """The practitioner's pick; both sides get the invitation. The wait is VvOCM's again:
    its outcome is due `deadlines.intake_report` days after the call (the due date moves with
    the call; VvOCM's own delay never expires the case)."""
    try:
        with session_scope() as session:
            case = get_case(session=session, case_id=case_id, for_update=True)
            slot = session.get(IntakeSlot, slot_id)
            if slot is None or slot.case_id != case_id:
                raise InvalidInput({"slot": m.SLOT_UNKNOWN})
            if case.state is not CaseState.INTAKE_CALL or case.awaiting_key is None:
                raise InvalidTransition(m.SLOTS_NOT_NOW.format(label=case.state.label),
                                        state=case.state)
            offer = max(offer_round(session, case_id), 1)
            key = chosen_key(offer)
            if get_event(session=session, case_id=case_id, key=key) is not None:
                raise InvalidTransition(m.SLOT_ALREADY_CHOSEN, state=case.state)
            if slot.starts_at <= get_settings().current_moment():
                raise InvalidInput({"slot": m.SLOT_IN_PAST})
            slot.chosen_at = utcnow()
            session.add(slot)
            case.due_on = due_date(slot.starts_at.astimezone(AMSTERDAM).date(),
                                   get_settings().deadlines.intake_report)
            case.awaiting_party = INTAKE_OUTCOME.wait.party
            session.add(case)
            step = side_step(session, case, key)
            invite(step, slot, offer)
            session.add(CaseEvent(
                case_id=case_id, key=key, kind=EventKind.NOTE, actor_role=actor.role,
                actor_name=actor.name, action="intake_slot_chosen",
                input={"starts_at": format_moment(slot.starts_at)},
                from_state=case.state, to_state=case.state, mails=step.mails))
            session.flush()
    except IntegrityError as err:  # the other click of a double click was first
        raise InvalidTransition(m.SLOT_ALREADY_CHOSEN, state=CaseState.INTAKE_CALL) from err
    await _deliver(case_id)
    return slot


async def _deliver(case_id: int) -> None:
    """Now if SMTP answers; otherwise the mails wait in the outbox for the sweep."""
    with suppress(DeliveryFailed):
        await deliver_pending(case_id)
