"""The practitioner, identified by KP number. No BSN, no patient data (DESIGN.md).

Name and e-mail address reach the public register and every mail, so they change only by an
explicit staff action, written down in `PractitionerChange`; opening a case never changes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, select

from domain.states import Role
from models.db import UTCDateTime, utcnow


class PractitionerBase(SQLModel):
    kp_number: str = Field(index=True, unique=True, min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254)
    member: bool = Field(description="Lid van de VvOCM")
    address: str = Field(default="", max_length=300, description="postal address, for invoices")


class PractitionerCreate(PractitionerBase):
    pass


class PractitionerPublic(PractitionerBase):
    """As staff see it in the API."""


class Practitioner(PractitionerBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PractitionerChange(SQLModel, table=True):
    """Who changed a practitioner's identity data, when, from what to what."""

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="practitioner.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_role: Role
    actor_name: str = Field(max_length=200)
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str = Field(default="", max_length=500)


def get_by_kp_number(*, session: Session, kp_number: str) -> Practitioner | None:
    return session.exec(select(Practitioner).where(Practitioner.kp_number == kp_number)).first()


def changes(*, session: Session, practitioner_id: int) -> list[PractitionerChange]:
    return list(session.exec(select(PractitionerChange)
                             .where(PractitionerChange.practitioner_id == practitioner_id)
                             .order_by(col(PractitionerChange.id))))
