"""Request-scoped dependencies: a database session per request and the logged-in staff member."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from fastapi import Depends, Request
from sqlmodel import Session

from models.db import get_engine
from models.staff import StaffUser


class LoginRequired(Exception):
    """Handled by the app: a redirect to the login page that comes back afterwards."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def db() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


def current_staff(request: Request, session: Session = Depends(db)) -> StaffUser:
    user_id = request.session.get("staff_id")
    user = session.get(StaffUser, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active:
        raise LoginRequired(quote(str(request.url.path)))
    return user
