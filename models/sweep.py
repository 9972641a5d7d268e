"""The sweep's own log: one row per finished sweep, with its report. Pages read the latest one
to tell staff whether the reconciler is alive, so "this heals by itself" is only said while
it does. Kept for a week."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column
from sqlmodel import JSON, Field, Session, SQLModel, col, delete, select

from models.db import UTCDateTime, utcnow

KEPT = timedelta(days=7)


class SweepRun(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    finished_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def record_sweep(*, session: Session, report: dict[str, Any]) -> None:
    now = utcnow()
    session.add(SweepRun(finished_at=now, report=report))
    session.exec(delete(SweepRun).where(col(SweepRun.finished_at) < now - KEPT))


def last_sweep(*, session: Session) -> datetime | None:
    finished: datetime | None = session.exec(
        select(SweepRun.finished_at).order_by(col(SweepRun.finished_at).desc())).first()
    return finished
