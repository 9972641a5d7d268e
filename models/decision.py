"""Recorded decisions, one per case and pause: the work the case's run still has to do.

The history keeps an unchangeable row for each decision; this table is where its processing
is tracked. A decision is *consumed* when the case's run has passed the pause it answers,
not when Prefect accepted a resume: only then is it safe to stop delivering it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from domain.states import Role
from models.db import UTCDateTime, utcnow


class DecisionSource(StrEnum):
    SERVICE = "service"
    PREFECT_UI = "prefect_ui"


class DecisionRecord(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("case_id", "pause_key", name="uq_decision_pause"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    pause_key: str = Field(max_length=60, description="the pause it answers ('withdraw' too)")
    action: str = Field(max_length=40)
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actor_role: Role
    actor_name: str = Field(max_length=200)
    source: DecisionSource = DecisionSource.SERVICE
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    consumed_at: datetime | None = Field(default=None, sa_type=UTCDateTime,
                                         description="when the run passed the pause")


def get_decision(*, session: Session, case_id: int, pause_key: str) -> DecisionRecord | None:
    return session.exec(select(DecisionRecord).where(
        DecisionRecord.case_id == case_id, DecisionRecord.pause_key == pause_key)).first()


def case_decisions(*, session: Session, case_id: int) -> list[DecisionRecord]:
    return list(session.exec(select(DecisionRecord).where(DecisionRecord.case_id == case_id)
                             .order_by(col(DecisionRecord.id))))


def unconsumed(*, session: Session, case_ids: list[int]) -> dict[int, list[DecisionRecord]]:
    """Decisions still to be processed, per case."""
    found: dict[int, list[DecisionRecord]] = {}
    if not case_ids:
        return found
    rows = session.exec(select(DecisionRecord).where(
        col(DecisionRecord.case_id).in_(case_ids), col(DecisionRecord.consumed_at).is_(None),
    ).order_by(col(DecisionRecord.id)))
    for row in rows:
        found.setdefault(row.case_id, []).append(row)
    return found
