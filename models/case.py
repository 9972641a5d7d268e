"""The case aggregate: its current state, the evidence, and the append-only history.

The history doubles as the step ledger: a transition row's `key` is unique per case, so a
replayed step finds its own row and does nothing (DESIGN.md, Architecture). History rows are
only ever added. What changes is the case row, and every change to it is a compare-and-set on
`version`: a writer holding a stale copy gets StaleDataError instead of overwriting.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Integer, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from domain import procedure
from domain.errors import CaseNotFound
from domain.states import CaseState, Role
from models.db import UTCDateTime, utcnow
from policies import Evidence, RegisterPolicy, Verdict, load_policy

MAX_CASE_ID = 2**31 - 1
_version = Column("version", Integer, nullable=False)


class CaseBase(SQLModel):
    specialisation: str = Field(max_length=10)
    request_date: date = Field(description="the day the practitioner's e-mail reached VvOCM (R5)")


class Case(CaseBase, table=True):
    __mapper_args__ = {"version_id_col": _version}

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=20)
    practitioner_id: int = Field(foreign_key="practitioner.id", index=True)
    registration_id: int | None = Field(default=None, foreign_key="registration.id")
    state: CaseState = Field(default=CaseState.REQUESTED, index=True)
    version: int = Field(default=1, sa_column=_version)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    flow_run_id: str | None = Field(default=None, max_length=64)
    run_generation: int = Field(default=0, description="runs started for this case; the "
                                "current run's idempotency key is case-{id}-{generation}")
    plan_version: int = Field(default_factory=lambda: procedure.PLAN_VERSION,
                              description="the step plan it started under: it keeps it")
    awaiting_key: str | None = Field(default=None, max_length=60, description="current pause key")
    awaiting_action: str | None = Field(default=None, max_length=40)
    awaiting_party: str | None = Field(
        default=None, max_length=20, description="who the current wait is on (the "
        "practitioner, VvOCM, KP or the reviewer); only the practitioner is held to due_on")
    due_on: date | None = None
    reopened_on: date | None = None
    submitted_on: date | None = None
    review_round: int = 0
    reviewer_id: int | None = Field(default=None, foreign_key="reviewer.id")
    claimed_by_id: int | None = Field(default=None, foreign_key="staffuser.id",
                                      description="staff member working on the current step")
    claim_key: str | None = Field(default=None, max_length=60,
                                  description="the pause the claim was made for")
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    repair_attempts: int = Field(default=0, description="fresh runs since the last progress")
    stuck_reason: str | None = Field(default=None, max_length=500,
                                     description="why the reconciler gave up (staff read this)")
    stuck_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


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
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_role: Role
    actor_name: str = Field(max_length=200)
    action: str = Field(max_length=60)
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    from_state: CaseState | None = None
    to_state: CaseState | None = None
    mails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def get_case(*, session: Session, case_id: int, for_update: bool = False) -> Case:
    statement = select(Case).where(Case.id == case_id)
    if for_update:
        statement = statement.with_for_update()
    case = session.exec(statement).first()
    if case is None:
        raise CaseNotFound(str(case_id))
    return case


def find_case(*, session: Session, ref: str, for_update: bool = False) -> Case:
    """By id or by number (HR-2026-00001); anything else, or an id out of range, is not found."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():
        if len(ref) > 10 or int(ref) > MAX_CASE_ID:
            raise CaseNotFound(ref)
        condition = (Case.number == ref) | (Case.id == int(ref))
    else:
        condition = Case.number == ref
    statement = select(Case).where(condition)
    if for_update:
        statement = statement.with_for_update()
    case = session.exec(statement).first()
    if case is None:
        raise CaseNotFound(ref)
    return case


def get_event(*, session: Session, case_id: int, key: str) -> CaseEvent | None:
    return session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.key == key)
    ).first()


def add_note(*, session: Session, case: Case, key: str, action: str, role: Role = Role.SYSTEM,
             name: str = "workflow", data: dict[str, Any] | None = None) -> CaseEvent:
    """Appends a history row that is not a transition (a pause, a repair, a claim)."""
    event = CaseEvent(case_id=case.id or 0, key=key, kind=EventKind.NOTE, actor_role=role,
                      actor_name=name, action=action, input=data or {},
                      from_state=case.state, to_state=case.state)
    session.add(event)
    return event


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
