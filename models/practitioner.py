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


class IdentityConflict(SQLModel, table=True):
    """A register's export gave a known KP number another name or e-mail address. Not applied:
    it waits on the admin page until a person applies it (the recorded identity change) or sets
    it aside, so nobody is renamed, or mailed at an address that came in this way, unseen."""

    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="practitioner.id", index=True)
    name: str = Field(max_length=200, description="the name in the export")
    email: str = Field(max_length=254, description="the e-mail address in the export")
    source: str = Field(max_length=200, description="the export's file name and line")
    found_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    resolved_by: str = Field(default="", max_length=200)
    applied: bool | None = Field(default=None, description="applied, or set aside")
    reason: str = Field(default="", max_length=500)


def open_conflicts(*, session: Session) -> list[IdentityConflict]:
    return list(session.exec(select(IdentityConflict)
                             .where(col(IdentityConflict.resolved_at).is_(None))
                             .order_by(col(IdentityConflict.id))))


def open_conflict(*, session: Session, practitioner_id: int, name: str,
                  email: str) -> IdentityConflict | None:
    """The same difference still waiting (a second import of the same file adds none)."""
    return session.exec(select(IdentityConflict).where(
        IdentityConflict.practitioner_id == practitioner_id, IdentityConflict.name == name,
        IdentityConflict.email == email, col(IdentityConflict.resolved_at).is_(None))).first()
