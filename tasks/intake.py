"""The intake call in both calendars (R7): the invitation when the practitioner picks a time,
and its cancellation when the call will not happen at that time (VvOCM moves it, records the
outcome before it, or the case closes first).

One appointment per case: the same UID throughout (RFC 5545), a higher SEQUENCE with every
change, METHOD:REQUEST for an invitation and METHOD:CANCEL for a cancellation, so calendars
replace or remove the entry instead of keeping the old one beside the new. Offer round `n`
has its invitation at SEQUENCE 2(n-1) and its cancellation at 2(n-1)+1.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from domain.formatting import AMSTERDAM, format_euro
from domain.messages import INTAKE_FEE_LINE
from models.case import Case, CaseEvent
from models.db import utcnow
from models.intake import IntakeSlot
from models.invoice import InvoiceKind, get_invoice
from settings import get_settings
from tasks.papers import Attachment, intake_invitation

if TYPE_CHECKING:  # tasks.cases uses this module in its steps
    from tasks.cases import Step

CHOSEN = "intake-slot-chosen"
OFFERED = "intake-slots:"


def offer_round(session: Session, case_id: int) -> int:
    """How many times VvOCM offered times for this case (0: none yet)."""
    return len(session.exec(select(CaseEvent.id).where(
        CaseEvent.case_id == case_id, col(CaseEvent.key).startswith(OFFERED))).all())


def chosen_key(offer: int) -> str:
    """The pick of offer round `offer`, once per round (the first round's key is the one
    running cases were written with)."""
    return CHOSEN if offer <= 1 else f"{CHOSEN}-{offer}"


def chosen_slot(session: Session, case_id: int) -> IntakeSlot | None:
    return session.exec(select(IntakeSlot).where(
        IntakeSlot.case_id == case_id, col(IntakeSlot.chosen_at).is_not(None))
        .order_by(col(IntakeSlot.chosen_at).desc())).first()


def _uid(case: Case) -> str:
    return f"startgesprek-{case.number}@{get_settings().smtp.message_id_domain}"


def _calendar(step: Step, slot: IntakeSlot, *, sequence: int, cancel: bool,
              fee_line: str) -> Attachment:
    return intake_invitation(
        uid=_uid(step.case), starts_at=slot.starts_at, minutes=slot.minutes,
        video_link=slot.video_link, sequence=sequence, cancel=cancel,
        summary=f"Startgesprek herregistratie {step.policy.name} ({step.case.number})",
        description="\n".join(line for line in (
            f"Online startgesprek met de VvOCM over uw herregistratie {step.policy.name}.",
            f"Deelnemen: {slot.video_link}", fee_line) if line),
        organizer=get_settings().addresses.association, attendee=step.practitioner.email,
        stamp=utcnow())


def fee_line(session: Session, case_id: int) -> str:
    invoice = get_invoice(session=session, case_id=case_id, kind=InvoiceKind.INTAKE)
    return "" if invoice is None else INTAKE_FEE_LINE.format(fee=format_euro(invoice.amount),
                                                             number=invoice.number)


def invite(step: Step, slot: IntakeSlot, offer: int) -> None:
    """Both sides get the call as an invitation for their calendar."""
    line = fee_line(step.session, step.case_id)
    invitation = _calendar(step, slot, sequence=2 * (offer - 1), cancel=False, fee_line=line)
    context = {"starts_at": slot.starts_at.astimezone(AMSTERDAM),
               "ends_at": (slot.starts_at + timedelta(minutes=slot.minutes))
               .astimezone(AMSTERDAM), "video_link": slot.video_link, "fee_line": line}
    step.mail("intake_call_planned", "practitioner", attach=[invitation], **context)
    step.mail("intake_slot_chosen", "association", attach=[invitation], **context)


def cancel_planned_call(step: Step, *, reason: str, now: datetime | None = None) -> bool:
    """If a picked time still lies ahead, both calendars get its cancellation and both sides
    a mail saying why; True if so. Idempotent through the step's mail keys."""
    slot = chosen_slot(step.session, step.case_id)
    if slot is None or slot.starts_at <= (now or get_settings().current_moment()):
        return False
    offer = max(offer_round(step.session, step.case_id), 1)
    cancellation = _calendar(step, slot, sequence=2 * (offer - 1) + 1, cancel=True,
                             fee_line="")
    context = {"starts_at": slot.starts_at.astimezone(AMSTERDAM), "reason": reason}
    step.mail("intake_call_cancelled", "practitioner", attach=[cancellation], **context)
    step.mail("intake_call_cancelled_association", "association", attach=[cancellation],
              **context)
    return True
