"""Planning the online intake call (R7): VvOCM offers times on the case page, the practitioner
picks one on the status page, and both get the call as a calendar invitation (.ics) with the
video link, and for non-members the fee.

Offering again replaces the times not picked; a pick is once per case (a history row with a
unique key), so a double click or two tabs make one appointment and one pair of mails.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta

from pydantic import BaseModel, Field, HttpUrl, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition, NotAllowed
from domain.states import CaseState, Role
from models.case import CaseEvent, EventKind, find_case, get_case, get_event
from models.db import session_scope, utcnow
from models.intake import IntakeSlot
from models.invoice import InvoiceKind, get_invoice
from service.actions import parse_input
from service.actors import Actor
from settings import AMSTERDAM, get_settings
from tasks.cases import side_step
from tasks.mail import DeliveryFailed, deliver_pending
from tasks.papers import intake_invitation
from tasks.rendering import format_euro, format_moment

CHOSEN = "intake-slot-chosen"
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
    if actor.role not in (Role.ASSOCIATION_STAFF, Role.OPERATOR):
        raise NotAllowed(m.ROLE_NOT_ALLOWED.format(role=actor.role.label, action=m.SLOTS_TITLE))
    offer: SlotOffer = parse_input(SlotOffer, data)
    with session_scope() as session:
        case = find_case(session=session, ref=case_ref, for_update=True)
        if case.state is not CaseState.INTAKE_CALL:
            raise InvalidTransition(m.SLOTS_NOT_NOW.format(label=case.state.label),
                                    state=case.state)
        if get_event(session=session, case_id=case.id or 0, key=CHOSEN) is not None:
            raise InvalidTransition(m.SLOT_ALREADY_CHOSEN, state=case.state)
        session.execute(delete(IntakeSlot).where(col(IntakeSlot.case_id) == case.id))
        slots = [IntakeSlot(case_id=case.id or 0, starts_at=start, minutes=offer.minutes,
                            video_link=str(offer.video_link)) for start in offer.starts]
        session.add_all(slots)
        offers = session.exec(select(CaseEvent.id).where(
            CaseEvent.case_id == case.id, col(CaseEvent.key).startswith("intake-slots:"))).all()
        key = f"intake-slots:{len(offers) + 1}"
        step = side_step(session, case, key.replace(":", "-"))
        step.mail("intake_slots_offered", "practitioner", slots=offer.starts,
                  minutes=offer.minutes)
        session.add(CaseEvent(
            case_id=case.id or 0, key=key, kind=EventKind.NOTE, actor_role=actor.role,
            actor_name=actor.name, action="intake_slots_offered",
            input={"times": [s.isoformat() for s in offer.starts]}, from_state=case.state,
            to_state=case.state, mails=step.mails))
        session.flush()
        case_id = case.id or 0
    await _deliver(case_id)
    return slots


async def choose_slot(case_id: int, slot_id: int, *, actor: Actor) -> IntakeSlot:
    """The practitioner's pick; both sides get the invitation."""
    try:
        with session_scope() as session:
            case = get_case(session=session, case_id=case_id, for_update=True)
            slot = session.get(IntakeSlot, slot_id)
            if slot is None or slot.case_id != case_id:
                raise InvalidInput({"slot": m.SLOT_UNKNOWN})
            if case.state is not CaseState.INTAKE_CALL:
                raise InvalidTransition(m.SLOTS_NOT_NOW.format(label=case.state.label),
                                        state=case.state)
            if get_event(session=session, case_id=case_id, key=CHOSEN) is not None:
                raise InvalidTransition(m.SLOT_ALREADY_CHOSEN, state=case.state)
            slot.chosen_at = utcnow()
            session.add(slot)
            step = side_step(session, case, CHOSEN)
            invoice = get_invoice(session=session, case_id=case_id, kind=InvoiceKind.INTAKE)
            fee_line = "" if invoice is None else m.INTAKE_FEE_LINE.format(
                fee=format_euro(invoice.amount), number=invoice.number)
            addresses = get_settings().addresses
            invitation = intake_invitation(
                uid=f"startgesprek-{case.number}@{get_settings().smtp.message_id_domain}",
                starts_at=slot.starts_at, minutes=slot.minutes, video_link=slot.video_link,
                summary=f"Startgesprek herregistratie {step.policy.name} ({case.number})",
                description="\n".join(line for line in (
                    f"Online startgesprek met de VvOCM over uw herregistratie "
                    f"{step.policy.name}.", f"Deelnemen: {slot.video_link}", fee_line) if line),
                organizer=addresses.association, attendee=step.practitioner.email,
                stamp=utcnow())
            context = {"starts_at": slot.starts_at.astimezone(AMSTERDAM),
                       "ends_at": (slot.starts_at + timedelta(minutes=slot.minutes))
                       .astimezone(AMSTERDAM), "video_link": slot.video_link,
                       "fee_line": fee_line}
            step.mail("intake_call_planned", "practitioner", attach=[invitation], **context)
            step.mail("intake_slot_chosen", "association", attach=[invitation], **context)
            session.add(CaseEvent(
                case_id=case_id, key=CHOSEN, kind=EventKind.NOTE, actor_role=actor.role,
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
