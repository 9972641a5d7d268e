"""Times VvOCM offers for the online intake call (R7), one of which the practitioner picks."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, select

from models.case import CaseEvent
from models.db import UTCDateTime, utcnow


class IntakeSlot(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    minutes: int
    video_link: str = Field(max_length=500)
    offered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    chosen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def case_slots(*, session: Session, case_id: int) -> list[IntakeSlot]:
    return list(session.exec(select(IntakeSlot).where(IntakeSlot.case_id == case_id)
                             .order_by(col(IntakeSlot.starts_at))))


# History keys: the offers of times and the practitioner's pick of one.
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
