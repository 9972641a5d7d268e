"""Registrations in a register: base (KP) or a specialisation (KOT/BOT/PSOT/GOT), and the
calendar's notices about them (reminders, the submission window, the lapse), each at most
once per registration."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select


class RegistrationStatus(StrEnum):
    ACTIVE = "active"
    LAPSED = "lapsed"
    SUPERSEDED = "superseded"

    @property
    def label(self) -> str:
        return {"active": "Actief", "lapsed": "Verlopen", "superseded": "Opgevolgd"}[self.value]


class RegistrationBase(SQLModel):
    register_code: str = Field(default="KP", max_length=20)
    specialisation: str = Field(max_length=10, description="policy code: KP, KOT, BOT, PSOT, GOT")
    period_start: date
    period_end: date
    status: RegistrationStatus = RegistrationStatus.ACTIVE
    visible: bool = Field(default=True, description="shown in the public register (R4, R12)")


class Registration(RegistrationBase, table=True):
    """One period; the register's export names it by KP number, specialisation and start."""

    __table_args__ = (
        UniqueConstraint("practitioner_id", "specialisation", "period_start",
                         name="uq_registration_period"),
        Index("ix_registration_calendar", "specialisation", "period_end"),
    )

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


class RegistrationNotice(SQLModel, table=True):
    """A calendar mail about a registration ("reminder-6m", "window", "lapse"): the row and
    the outbox mail are written in one transaction, and the pair is unique, so a sweep that
    runs twice or crashes half way sends nothing twice."""

    __table_args__ = (UniqueConstraint("registration_id", "kind", name="uq_notice_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id", index=True)
    kind: str = Field(max_length=40)
    due_on: date
    sent_on: date = Field(description="the sweep's date: later than due_on after a catch-up")


def notices(*, session: Session, registration_id: int) -> list[RegistrationNotice]:
    return list(session.exec(select(RegistrationNotice)
                             .where(RegistrationNotice.registration_id == registration_id)
                             .order_by(col(RegistrationNotice.id))))
