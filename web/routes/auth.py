"""Staff login and logout. A login is a session kept on the server: logging out ends it, so
a copy of the cookie is worth nothing afterwards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from domain import messages as m
from domain.errors import InvalidInput
from service.accounts import (
    MIN_PASSWORD_LENGTH,
    LoginError,
    authenticate,
    change_password,
    end_session,
    start_session,
)
from web.deps import CurrentStaff, current_staff
from web.forms import form_values
from web.security import client_of, require_csrf
from web.templating import templates

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths, so the login page cannot send anyone elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/inbox"


@router.get("/inloggen", response_class=HTMLResponse)
async def login_form(request: Request, volgende: str | None = None) -> Response:
    return templates().TemplateResponse(request, "login.html",
                                        {"next": _safe_next(volgende), "error": None})


@router.post("/inloggen", dependencies=[Depends(require_csrf)])
async def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    volgende: Annotated[str, Form()] = "/inbox",
) -> Response:
    try:
        user = await run_in_threadpool(  # argon2 takes its time: not on the event loop
            authenticate, email=email, password=password, client=client_of(request))
    except LoginError as err:
        return templates().TemplateResponse(
            request, "login.html", {"next": _safe_next(volgende), "error": str(err),
                                    "email": email}, status_code=400)
    request.session.clear()
    request.session["sid"] = start_session(user)
    return RedirectResponse(_safe_next(volgende), status_code=303)


@router.get("/wachtwoord", response_class=HTMLResponse)
async def password_form(request: Request, user: CurrentStaff) -> Response:
    flash = request.session.pop("flash", None)
    return templates().TemplateResponse(request, "password.html", {
        "user": user, "errors": {}, "good": flash if isinstance(flash, str) else None,
        "min_length": MIN_PASSWORD_LENGTH})


@router.post("/wachtwoord", dependencies=[Depends(current_staff), Depends(require_csrf)])
async def change_own_password(request: Request, user: CurrentStaff) -> Response:
    """A one-time password from the admin is replaced by one of the person's own."""
    typed = form_values(await request.form())  # read once the login is known
    try:
        change_password(staff_id=user.id or 0, current=typed.get("huidig", ""),
                        new=typed.get("nieuw", ""), repeat=typed.get("herhaal", ""),
                        keep_session=str(request.session.get("sid", "")))
    except InvalidInput as err:
        return templates().TemplateResponse(request, "password.html", {
            "user": user, "errors": err.errors, "good": None,
            "min_length": MIN_PASSWORD_LENGTH}, status_code=422)
    request.session["flash"] = m.PASSWORD_CHANGED
    return RedirectResponse("/wachtwoord", status_code=303)


@router.post("/uitloggen", dependencies=[Depends(require_csrf)])
async def logout(request: Request) -> Response:
    token = request.session.get("sid")
    if isinstance(token, str):
        end_session(token)
    request.session.clear()
    return RedirectResponse("/inloggen", status_code=303)
