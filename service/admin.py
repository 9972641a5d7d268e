"""The admin's overview: staff accounts, API tokens, reviewers, identity conflicts waiting from
imports, and dead letters (mail the SMTP server refused for good)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from models.case import Case
from models.outbox import OutboxMail, dead_letters
from models.practitioner import IdentityConflict, Practitioner, open_conflicts
from models.review import Reviewer
from models.staff import ApiToken, StaffUser, list_staff, staff_by_email


@dataclass
class AdminView:
    staff: list[StaffUser]
    tokens: list[ApiToken]
    reviewers: list[Reviewer]
    conflicts: list[tuple[IdentityConflict, Practitioner | None]]
    dead: list[tuple[OutboxMail, str | None]]  # with the case's number, if it has one


def admin_view(session: Session) -> AdminView:
    dead = dead_letters(session=session)
    numbers = {c.id: c.number for c in session.exec(
        select(Case).where(col(Case.id).in_({m.case_id for m in dead if m.case_id})))}
    return AdminView(
        staff=list_staff(session=session),
        tokens=list(session.exec(select(ApiToken).where(ApiToken.revoked == False)  # noqa: E712
                                 .order_by(col(ApiToken.id)))),
        reviewers=list(session.exec(select(Reviewer).order_by(col(Reviewer.name)))),
        conflicts=[(c, session.get(Practitioner, c.practitioner_id))
                   for c in open_conflicts(session=session)],
        dead=[(mail, numbers.get(mail.case_id)) for mail in dead])


def email_in_use(session: Session, address: str) -> bool:
    return staff_by_email(session=session, email=address) is not None


def staff_member(session: Session, staff_id: int) -> StaffUser | None:
    return session.get(StaffUser, staff_id)
