"""The practitioner, identified by KP number. No BSN, no patient data (DESIGN.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, Session, SQLModel, select

from models.db import utcnow


class PractitionerBase(SQLModel):
    kp_number: str = Field(index=True, unique=True, min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254)
    member: bool = Field(description="member of the association (VvOCM)")


class PractitionerCreate(PractitionerBase):
    pass


class Practitioner(PractitionerBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


def get_by_kp_number(*, session: Session, kp_number: str) -> Practitioner | None:
    return session.exec(select(Practitioner).where(Practitioner.kp_number == kp_number)).first()


def upsert_practitioner(*, session: Session, data: PractitionerCreate) -> Practitioner:
    """Name, e-mail and membership change over time; the KP number does not."""
    found = get_by_kp_number(session=session, kp_number=data.kp_number)
    if found is None:
        found = Practitioner.model_validate(data)
    else:
        found.name, found.email, found.member = data.name, data.email, data.member
    session.add(found)
    session.flush()
    return found
