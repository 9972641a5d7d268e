"""Throttles on doors a stranger can knock on (the login, the way in): each attempt that counts
is a row, per kind and key (a client's address, a KP number), and too many in a window are
refused with a Dutch message that says nothing about who exists. Rows older than a day go."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Field, Session, SQLModel, col, delete, func, select

from models.db import UTCDateTime, utcnow

KEPT = timedelta(days=1)


class ThrottleHit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20, index=True)
    key: str = Field(max_length=100, index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


def hits(*, session: Session, kind: str, key: str, within: timedelta) -> int:
    found: int = session.exec(select(func.count()).select_from(ThrottleHit).where(
        ThrottleHit.kind == kind, ThrottleHit.key == key,
        col(ThrottleHit.at) > utcnow() - within)).one()
    return found


def record_hit(*, session: Session, kind: str, key: str) -> None:
    now = utcnow()
    session.add(ThrottleHit(kind=kind, key=key[:100], at=now))
    session.exec(delete(ThrottleHit).where(col(ThrottleHit.at) < now - KEPT))
