"""Staff accounts: passwords (argon2), login sessions kept on the server, API tokens, and the
admin's changes to accounts and reviewers. Each function is one write transaction of its own,
so pages never write through their read session."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session, col, delete, select

from domain import messages as m
from domain.errors import InvalidInput
from models.db import session_scope, utcnow
from models.review import Reviewer, upsert_reviewer
from models.staff import ApiToken, StaffSession, staff_by_email
from models.staff import StaffRole as StaffRole  # the pages' types of staff and their roles
from models.staff import StaffUser as StaffUser
from models.throttle import hits, record_hit
from service.actors import Actor
from service.claims import STAFF_ROLES, end_claims_of
from settings import get_settings

_hasher = PasswordHasher()
LOGIN = "login"  # the throttle on failed logins, per client


class LoginError(Exception):
    """Dutch message for the login form."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_for(user: StaffUser) -> Actor:
    return Actor(STAFF_ROLES[user.role], user.name, staff_id=user.id)


def authenticate(*, email: str, password: str, client: str) -> StaffUser:
    """The staff member, or LoginError. Failures count per client: too many and that client
    waits a while, whatever address it tries. No account is ever locked (anyone could lock
    someone else's), and known and unknown addresses get the same answers."""
    web = get_settings().web
    window = timedelta(minutes=web.lockout_minutes)
    with session_scope() as session:
        if hits(session=session, kind=LOGIN, key=client, within=window) \
                >= web.max_failed_logins:
            raise LoginError(m.LOGIN_THROTTLED.format(minutes=web.lockout_minutes))
        user = staff_by_email(session=session, email=email)
        try:
            if user is None or not user.active:
                _hasher.hash(password)  # same work as a real check, so timing does not tell
                raise VerifyMismatchError
            _hasher.verify(user.password_hash, password)
            if user.one_time_password and user.one_time_used_at is not None:
                raise VerifyMismatchError  # a one-time password logs in once
        except (VerifyMismatchError, InvalidHashError):
            record_hit(session=session, kind=LOGIN, key=client)
            failed = True
        else:
            if user.one_time_password:
                user.one_time_used_at = utcnow()
                session.add(user)
            failed = False
    if failed or user is None:
        raise LoginError(m.LOGIN_FAILED)
    return user


def start_session(user: StaffUser) -> str:
    """A new login; the cookie gets the returned id, the database only its hash."""
    token = secrets.token_urlsafe(32)
    hours = get_settings().web.session_hours
    with session_scope() as session:
        session.add(StaffSession(token_hash=digest(token), staff_id=user.id or 0,
                                 expires_at=utcnow() + timedelta(hours=hours)))
    return token


def session_user(session: Session, token: str) -> StaffUser | None:
    """The active staff member of a login that has not ended or expired."""
    row = session.exec(select(StaffSession).where(StaffSession.token_hash == digest(token))
                       ).first()
    if row is None or row.expires_at <= utcnow():
        return None
    user = session.get(StaffUser, row.staff_id)
    return user if user is not None and user.active else None


def end_session(token: str) -> None:
    with session_scope() as session:
        session.exec(delete(StaffSession).where(
            col(StaffSession.token_hash) == digest(token)))


def new_api_token(*, staff_id: int, name: str) -> str:
    """The token is shown once; only its hash is kept."""
    token = f"hr_{secrets.token_urlsafe(32)}"
    with session_scope() as session:
        owner = session.get(StaffUser, staff_id)
        if owner is None or not owner.active:
            raise LookupError(staff_id)
        session.add(ApiToken(staff_id=staff_id, name=name, token_hash=digest(token)))
    return token


def revoke_api_token(token_id: int) -> None:
    with session_scope() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise LookupError(token_id)
        row.revoked = True
        session.add(row)


def staff_from_token(*, session: Session, token: str) -> StaffUser | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest(token),
                                              ApiToken.revoked == False)).first()  # noqa: E712
    if row is None:
        return None
    user = session.get(StaffUser, row.staff_id)
    return user if user is not None and user.active else None


def create_staff(*, email: str, name: str, role: StaffRole) -> str:
    """A new account with a one-time password, returned to be passed on."""
    password = secrets.token_urlsafe(12)
    with session_scope() as session:
        session.add(StaffUser(email=email.strip().lower(), name=name.strip(), role=role,
                              password_hash=hash_password(password), one_time_password=True))
    return password


def set_admin(*, email: str, name: str, password: str) -> None:
    """The first admin (or a new password for an existing one), from the command line."""
    set_account(email=email, name=name, role=StaffRole.ADMIN, password=password)


def set_account(*, email: str, name: str, role: StaffRole, password: str) -> int:
    """An account with a password of its own (the command line's admin, the demo's logins);
    an existing one gets the role and password. Its id."""
    with session_scope() as session:
        user = staff_by_email(session=session, email=email) or StaffUser(
            email=email.strip().lower(), name=name, role=role, password_hash="")
        user.password_hash, user.role, user.active = hash_password(password), role, True
        user.one_time_password, user.one_time_used_at = False, None
        session.add(user)
        session.flush()
        return user.id or 0


MIN_PASSWORD_LENGTH = 12


def change_password(*, staff_id: int, current: str, new: str, repeat: str,
                    keep_session: str) -> None:
    """The person's own new password; their other logins end (a one-time password that was
    passed on is worth nothing afterwards). Field errors as InvalidInput, in Dutch."""
    errors: dict[str, str] = {}
    if len(new) < MIN_PASSWORD_LENGTH:
        errors["nieuw"] = m.PASSWORD_TOO_SHORT.format(min=MIN_PASSWORD_LENGTH)
    elif new != repeat:
        errors["herhaal"] = m.PASSWORD_MISMATCH
    with session_scope() as session:
        user = session.get(StaffUser, staff_id)
        if user is None or not user.active:
            raise LookupError(staff_id)
        try:
            _hasher.verify(user.password_hash, current)
        except (VerifyMismatchError, InvalidHashError):
            errors = {"huidig": m.PASSWORD_WRONG, **errors}
        if errors:
            raise InvalidInput(errors)
        user.password_hash = hash_password(new)
        user.one_time_password, user.one_time_used_at = False, None
        session.add(user)
        session.exec(delete(StaffSession).where(
            col(StaffSession.staff_id) == staff_id,
            col(StaffSession.token_hash) != digest(keep_session)))


def reactivate_staff(staff_id: int) -> str:
    """The account can log in again, with a new one-time password (returned to pass on)."""
    password = secrets.token_urlsafe(12)
    with session_scope() as session:
        target = session.get(StaffUser, staff_id)
        if target is None:
            raise LookupError(staff_id)
        target.active = True
        target.password_hash = hash_password(password)
        target.one_time_password, target.one_time_used_at = True, None
        session.add(target)
    return password


def deactivate_staff(staff_id: int) -> None:
    """The account can no longer log in; its logins and claims end at once."""
    with session_scope() as session:
        target = session.get(StaffUser, staff_id)
        if target is None:
            raise LookupError(staff_id)
        target.active = False
        session.add(target)
        session.exec(delete(StaffSession).where(
            col(StaffSession.staff_id) == staff_id))
        end_claims_of(session, staff_id)


def add_reviewer(*, name: str, email: str) -> Reviewer:
    with session_scope() as session:
        return upsert_reviewer(session=session, name=name.strip(), email=email)
