"""The public register's visibility: R4 takes a lapsed specialisation out of it."""

from __future__ import annotations

from datetime import date

from prefect import task
from sqlmodel import select

from models.db import session_scope
from models.registration import Registration, RegistrationStatus
from policies import load_policy


@task
def mark_lapsed_registrations(today: date) -> int:
    """R4: from (end + 2 months + 1 day) a specialisation is lapsed and no longer visible;
    a base registration moves to the diploma register (also not visible here)."""
    changed = 0
    with session_scope() as session:
        active = session.exec(
            select(Registration).where(Registration.status == RegistrationStatus.ACTIVE)
        )
        for registration in active:
            if load_policy(registration.specialisation).is_lapsed(registration.period_end, today):
                registration.status, registration.visible = RegistrationStatus.LAPSED, False
                session.add(registration)
                changed += 1
    return changed
