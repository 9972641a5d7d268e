"""Registrations in a register: base (KP) or a specialisation (KOT/BOT/PSOT/GOT)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlmodel import Field, Session, SQLModel, col, select


class RegistrationStatus(StrEnum):
    ACTIVE = "active"
    LAPSED = "lapsed"
    SUPERSEDED = "superseded"


class RegistrationBase(SQLModel):
    register_code: str = Field(default="KP", max_length=20)
    specialisation: str = Field(max_length=10, description="policy code: KP, KOT, BOT, PSOT, GOT")
    period_start: date
    period_end: date
    status: RegistrationStatus = RegistrationStatus.ACTIVE
    visible: bool = Field(default=True, description="shown in the public register (R4, R12)")


class Registration(RegistrationBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    practitioner_id: int = Field(foreign_key="practitioner.id", index=True)
    case_id: int | None = Field(default=None, description="case that produced this period")


def latest_registration(
    *, session: Session, practitioner_id: int, specialisation: str
) -> Registration | None:
    return session.exec(
        select(Registration)
        .where(Registration.practitioner_id == practitioner_id)
        .where(Registration.specialisation == specialisation)
        .order_by(col(Registration.period_start).desc())
    ).first()
