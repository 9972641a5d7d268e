"""The public register (R4, R12): who is visibly registered in a specialisation register now.
Name, KP number, specialisation and period only; no contact or other personal data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.practitioner import Practitioner
from models.registration import Registration, RegistrationStatus
from policies import specialisations


@dataclass(frozen=True)
class RegisterRow:
    name: str
    kp_number: str
    specialisation: str  # its Dutch name
    period_start: date
    period_end: date


@dataclass(frozen=True)
class RegisterPage:
    rows: list[RegisterRow]
    total: int
    page: int
    pages: int


def _like(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def public_register(session: Session, *, name: str, kp_number: str, specialisation: str,
                    page: int, size: int) -> RegisterPage:
    """One page of the visible, active registrations matching the search (a name anywhere in
    the name, an exact KP number, a specialisation); a page past the last is the last."""
    names = specialisations()
    conditions = [
        col(Registration.visible).is_(True),
        col(Registration.status) == RegistrationStatus.ACTIVE,
        col(Registration.specialisation).in_(list(names)),
    ]
    if name:
        conditions.append(col(Practitioner.name).ilike(_like(name), escape="\\"))
    if kp_number:
        conditions.append(col(Practitioner.kp_number) == kp_number)
    if specialisation in names:
        conditions.append(col(Registration.specialisation) == specialisation)
    found = (select(Registration, Practitioner)
             .join(Practitioner, col(Registration.practitioner_id) == col(Practitioner.id))
             .where(*conditions))
    total = session.exec(select(func.count()).select_from(found.subquery())).one()
    pages = max(1, (total + size - 1) // size)
    page = min(page, pages)
    rows = session.exec(found.order_by(col(Practitioner.name), col(Registration.specialisation))
                        .offset((page - 1) * size).limit(size)).all()
    return RegisterPage(
        rows=[RegisterRow(p.name, p.kp_number, names[r.specialisation], r.period_start,
                          r.period_end) for r, p in rows],
        total=total, page=page, pages=pages)
