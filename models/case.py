"""The case aggregate: its current state, the evidence, and the append-only history.

The history doubles as the step ledger: a transition row's `key` is unique per case, so a
replayed step finds its own row and does nothing (DESIGN.md, Architecture).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from domain.errors import CaseNotFound
from domain.states import CaseState, Role
from models.db import utcnow
from policies import Evidence, RegisterPolicy, Verdict, load_policy


class CaseBase(SQLModel):
    specialisation: str = Field(max_length=10)
    request_date: date = Field(description="the day the practitioner's e-mail reached VvOCM (R5)")


class Case(CaseBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=20)
    practitioner_id: int = Field(foreign_key="practitioner.id", index=True)
    registration_id: int | None = Field(default=None, foreign_key="registration.id")
    state: CaseState = Field(default=CaseState.REQUESTED, index=True)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    flow_run_id: str | None = Field(default=None, max_length=64)
    awaiting_key: str | None = Field(default=None, max_length=60, description="current pause key")
    awaiting_action: str | None = Field(default=None, max_length=40)
    due_on: date | None = None
    reopened_on: date | None = None
    submitted_on: date | None = None
    review_round: int = 0
    reviewer_id: int | None = Field(default=None, foreign_key="reviewer.id")
    claimed_by_id: int | None = Field(default=None, foreign_key="staffuser.id",
                                      description="staff member working on it now")
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class EventKind(StrEnum):
    DECISION = "decision"
    TRANSITION = "transition"
    NOTE = "note"


class CaseEvent(SQLModel, table=True):
    """One history row: who, role, when, what input, resulting state, which mails."""

    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_case_event_key"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    key: str = Field(max_length=80)
    kind: EventKind
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    actor_role: Role
    actor_name: str = Field(max_length=200)
    action: str = Field(max_length=60)
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    from_state: CaseState | None = None
    to_state: CaseState | None = None
    mails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    resumed_at: datetime | None = Field(
        default=None, sa_type=DateTime(timezone=True),
        description="decisions only: when the run was resumed with it (None: still to deliver)",
    )


def get_case(*, session: Session, case_id: int, for_update: bool = False) -> Case:
    statement = select(Case).where(Case.id == case_id)
    if for_update:
        statement = statement.with_for_update()
    case = session.exec(statement).first()
    if case is None:
        raise CaseNotFound(str(case_id))
    return case


def find_case(*, session: Session, ref: str) -> Case:
    """By id or by number (HR-2026-00001)."""
    statement = select(Case).where(
        (Case.number == ref) | (Case.id == int(ref)) if ref.isdigit() else Case.number == ref
    )
    case = session.exec(statement).first()
    if case is None:
        raise CaseNotFound(ref)
    return case


def get_event(*, session: Session, case_id: int, key: str) -> CaseEvent | None:
    return session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.key == key)
    ).first()


def history(*, session: Session, case_id: int) -> list[CaseEvent]:
    return list(
        session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))
        )
    )


def list_cases(*, session: Session, state: CaseState | None = None) -> list[Case]:
    statement = select(Case).order_by(col(Case.id))
    if state is not None:
        statement = statement.where(Case.state == state)
    return list(session.exec(statement))


def case_policy(case: Case) -> RegisterPolicy:
    return load_policy(case.specialisation)


def case_verdict(case: Case) -> Verdict:
    """R6: points and hours over the five years before the request, from the stored evidence."""
    return case_policy(case).assess(Evidence.model_validate(case.evidence), case.request_date)
