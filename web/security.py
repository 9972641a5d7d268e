"""What the web layer adds to the service's accounts: CSRF tokens on every form, role checks
for pages, the size cap on request bodies, and the security headers of every response."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import Depends, HTTPException, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain import messages as m
from service.accounts import StaffRole, StaffUser, actor_for
from service.claims import STAFF_ROLES as ACTOR_ROLES

__all__ = ["ACTOR_ROLES", "BodyLimit", "actor_for", "csrf_token", "require_csrf",
           "roles_allowed", "SECURITY_HEADERS"]

BODY_TOO_LARGE = "Het verzoek is te groot."
# Pages load scripts, styles and images from this site only and are never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def client_of(request: Request) -> str:
    """The client's address, for throttles. uvicorn takes it from `X-Forwarded-For` when the
    proxy's address is in `FORWARDED_ALLOW_IPS` (127.0.0.1 unless set), so that it is the
    person's, not the proxy's."""
    return request.client.host if request.client else "onbekend"


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


def roles_allowed(*roles: StaffRole) -> Any:
    """Page dependency: the logged-in staff member, if their role is one of `roles`."""
    from web.deps import current_staff

    def check(user: StaffUser = Depends(current_staff)) -> StaffUser:
        if roles and user.role not in roles:
            raise HTTPException(status_code=403, detail=m.FORBIDDEN)
        return user

    return Depends(check)


class BodyLimit:
    """Refuses request bodies over `limit` bytes before anything parses them (413): by the
    declared length at once, and by counting while the body streams in. Paths under a prefix
    in `larger` (file uploads) have that limit instead."""

    def __init__(self, app: ASGIApp, limit: int, larger: Mapping[str, int] | None = None) -> None:
        self.app, self.default, self.larger = app, limit, dict(larger or {})

    def _limit(self, path: str) -> int:
        return next((limit for prefix, limit in self.larger.items() if path.startswith(prefix)),
                    self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(str(scope.get("path", "")))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(scope, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(scope, send)


class _BodyTooLarge(StarletteHTTPException):
    """An HTTP exception, so that the framework's body parsing passes it on as a 413 instead
    of turning it into a 400 ("error parsing the body") when a chunked body runs over."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=BODY_TOO_LARGE)


async def _too_large(scope: Scope, send: Send) -> None:
    from starlette.responses import JSONResponse, PlainTextResponse

    api = str(scope.get("path", "")).startswith("/api/")
    response = JSONResponse({"detail": BODY_TOO_LARGE}, status_code=413) if api \
        else PlainTextResponse(BODY_TOO_LARGE, status_code=413)
    await response(scope, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}
