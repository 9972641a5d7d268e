"""Staff login (argon2 hashes, lockout after repeated failures), signed-cookie sessions, CSRF
tokens on every form, and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request
from sqlmodel import Session, select

from domain import messages as m
from domain.states import Role
from models.db import utcnow
from models.staff import ApiToken, StaffRole, StaffUser, staff_by_email
from service.actions import Actor
from settings import get_settings

_hasher = PasswordHasher()
ACTOR_ROLES = {StaffRole.ASSOCIATION_STAFF: Role.ASSOCIATION_STAFF,
               StaffRole.REGISTER_STAFF: Role.REGISTER_STAFF, StaffRole.ADMIN: Role.OPERATOR}


class LoginError(Exception):
    """Dutch message for the login form."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def authenticate(*, session: Session, email: str, password: str) -> StaffUser:
    """The staff member, or LoginError. Failures count; too many lock the account a while."""
    web = get_settings().web
    user = staff_by_email(session=session, email=email)
    if user is None or not user.active:
        _hasher.hash(password)  # same work as a real check, so timing does not tell
        raise LoginError(m.LOGIN_FAILED)
    now = utcnow()
    locked_until = user.locked_until
    if locked_until is not None and locked_until.tzinfo is None:
        locked_until = locked_until.replace(tzinfo=now.tzinfo)
    if locked_until is not None and locked_until > now:
        raise LoginError(m.LOGIN_LOCKED.format(until=f"{locked_until.astimezone():%H:%M}"))
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError) as err:
        user.failed_logins += 1
        if user.failed_logins >= web.max_failed_logins:
            user.failed_logins = 0
            user.locked_until = now + timedelta(minutes=web.lockout_minutes)
        session.add(user)
        session.commit()
        raise LoginError(m.LOGIN_FAILED) from err
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    session.commit()
    return user


def csrf_token(request: Request) -> str:
    """One token per session, in every form; checked on every POST."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def require_csrf(request: Request) -> None:
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) \
            or not secrets.compare_digest(sent, expected):
        raise HTTPException(status_code=403, detail=m.CSRF_FAILED)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_token(*, session: Session, staff: StaffUser, name: str) -> str:
    """The token is shown once; only its hash is kept."""
    token = f"hr_{secrets.token_urlsafe(32)}"
    session.add(ApiToken(staff_id=staff.id or 0, name=name, token_hash=token_digest(token)))
    session.commit()
    return token


def staff_from_token(*, session: Session, token: str) -> StaffUser | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_digest(token),
                                              ApiToken.revoked == False)).first()  # noqa: E712
    if row is None:
        return None
    user = session.get(StaffUser, row.staff_id)
    return user if user is not None and user.active else None


def actor_for(user: StaffUser) -> Actor:
    return Actor(ACTOR_ROLES[user.role], user.name, staff_id=user.id)


def roles_allowed(*roles: StaffRole) -> Any:
    """Page dependency: the logged-in staff member, if their role is one of `roles`."""
    from web.deps import current_staff

    def check(user: StaffUser = Depends(current_staff)) -> StaffUser:
        if roles and user.role not in roles:
            raise HTTPException(status_code=403, detail=m.FORBIDDEN)
        return user

    return Depends(check)
