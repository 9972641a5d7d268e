"""Request-scoped dependencies: a read session per request and the logged-in staff member.

Pages read through their request session and write only through the service, whose
functions each open a write transaction of their own (see models/db.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlmodel import Session

from service.accounts import StaffUser, session_user
from service.sessions import read_session


class PasswordChangeRequired(Exception):
    """Handled by the app: a login with a one-time password may only set a new password."""


# What a login with a one-time password may reach: choosing a password, and logging out.
BEFORE_OWN_PASSWORD = frozenset({"/wachtwoord", "/uitloggen"})


class LoginRequired(Exception):
    """Handled by the app: a redirect to the login page that comes back afterwards."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def db() -> Iterator[Session]:
    with read_session() as session:
        yield session


def release(session: Session) -> None:
    """End the request's read transaction, so its connection goes back to the pool: a route
    that goes on to await the service (which takes a connection of its own) must not hold one
    meanwhile. Under a burst, requests that each held one and waited for a second emptied the
    pool; a click uses one connection at a time. What was read stays usable."""
    session.commit()


def current_staff(request: Request, session: Session = Depends(db)) -> StaffUser:
    token = request.session.get("sid")
    user = session_user(session, token) if isinstance(token, str) else None
    release(session)
    if user is None:
        raise LoginRequired(quote(str(request.url.path)))
    if user.one_time_password and request.url.path not in BEFORE_OWN_PASSWORD:
        raise PasswordChangeRequired
    return user


# Typed dependencies, as in FastAPI's full-stack template: a route names what it needs.
SessionDep = Annotated[Session, Depends(db)]
CurrentStaff = Annotated[StaffUser, Depends(current_staff)]
