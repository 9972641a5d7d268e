"""Gapless number series per year (case numbers, invoice numbers, certificates)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select


class Counter(SQLModel, table=True):
    series: str = Field(primary_key=True, max_length=20)
    year: int = Field(primary_key=True)
    last: int = 0


def next_number(*, session: Session, series: str, year: int, prefix: str) -> str:
    """Increment first so the row is write-locked before it is read (safe on SQLite and PostgreSQL);
    allocated inside the caller's transaction, so a rolled-back step leaves no gap. The first
    number of a year creates the row; if another transaction created it at the same moment,
    its insert waits for that one and fails, and the increment then takes the next number."""
    if _bump(session, series, year) == 0:
        try:
            with session.begin_nested():
                session.add(Counter(series=series, year=year, last=1))
        except IntegrityError:
            _bump(session, series, year)
    value = session.exec(
        select(Counter.last).where(Counter.series == series, Counter.year == year)
    ).one()
    return f"{prefix}-{year}-{value:05d}"


def _bump(session: Session, series: str, year: int) -> int:
    bumped = session.execute(
        update(Counter)
        .where(Counter.series == series, Counter.year == year)  # type: ignore[arg-type]
        .values(last=Counter.last + 1)
    )
    return int(bumped.rowcount)  # type: ignore[attr-defined]
