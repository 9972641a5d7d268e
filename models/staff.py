"""Staff accounts (VvOCM, KP, admin), their login sessions and API tokens. Passwords, session
ids and tokens are stored only as hashes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, Session, SQLModel, col, select

from models.db import UTCDateTime, utcnow


class StaffRole(StrEnum):
    ASSOCIATION_STAFF = "association_staff"
    REGISTER_STAFF = "register_staff"
    ADMIN = "admin"


class StaffUser(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=254)
    name: str = Field(max_length=200)
    role: StaffRole
    password_hash: str = Field(max_length=300)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # A one-time password from the admin logs in once, and that login may only set a
    # password of the person's own.
    one_time_password: bool = False
    one_time_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffSession(SQLModel, table=True):
    """A login: the cookie carries the id, the server keeps its hash, so logging out (or being
    deactivated) ends it for good, whatever copies of the cookie exist."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=128)
    staff_id: int = Field(foreign_key="staffuser.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staffuser.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(unique=True, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked: bool = False


def staff_by_email(*, session: Session, email: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(StaffUser.email == email.strip().lower())).first()


def list_staff(*, session: Session) -> list[StaffUser]:
    return list(session.exec(select(StaffUser).order_by(col(StaffUser.name))))
