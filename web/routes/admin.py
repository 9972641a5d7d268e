"""Admin pages: staff accounts (VvOCM, KP, admin), API tokens and reviewers."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlmodel import Session, col, select

from models.review import Reviewer, upsert_reviewer
from models.staff import ApiToken, StaffRole, StaffUser, list_staff, staff_by_email
from web.deps import db
from web.security import hash_password, new_api_token, require_csrf, roles_allowed
from web.templating import templates

router = APIRouter(prefix="/beheer", include_in_schema=False)
ADMIN = roles_allowed(StaffRole.ADMIN)
ROLE_NAMES = {StaffRole.ASSOCIATION_STAFF: "Medewerker VvOCM",
              StaffRole.REGISTER_STAFF: "Medewerker KP", StaffRole.ADMIN: "Beheerder"}
EMAIL_INVALID = "Vul een geldig e-mailadres in."
EMAIL_TAKEN = "Er bestaat al een account met dit e-mailadres."
NAME_REQUIRED = "Vul een naam in."
NOT_FOUND = "Niet gevonden."


def _valid_email(value: str) -> str | None:
    try:
        return str(TypeAdapter(EmailStr).validate_python(value.strip())).lower()
    except ValidationError:
        return None


def _page(request: Request, session: Session, user: StaffUser, status: int = 200,
          **extra: object) -> Response:
    tokens = session.exec(select(ApiToken).where(ApiToken.revoked == False)  # noqa: E712
                          .order_by(col(ApiToken.id))).all()
    reviewers = session.exec(select(Reviewer).order_by(col(Reviewer.name))).all()
    context = {"user": user, "staff": list_staff(session=session), "tokens": tokens,
               "reviewers": reviewers, "roles": ROLE_NAMES, "errors": {}, "values": {},
               "new_secret": None, **extra}
    return templates().TemplateResponse(request, "admin.html", context, status_code=status)


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, user: StaffUser = ADMIN,
                   session: Session = Depends(db)) -> Response:
    return _page(request, session, user)


@router.post("/medewerkers", dependencies=[Depends(require_csrf)])
async def add_staff(
    request: Request,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    user: StaffUser = ADMIN,
    session: Session = Depends(db),
) -> Response:
    """A new account gets a one-time password, shown once to the admin to pass on."""
    errors: dict[str, str] = {}
    address = _valid_email(email)
    if address is None:
        errors["email"] = EMAIL_INVALID
    elif staff_by_email(session=session, email=address) is not None:
        errors["email"] = EMAIL_TAKEN
    if not name.strip():
        errors["name"] = NAME_REQUIRED
    if role not in {r.value for r in StaffRole}:
        errors["role"] = "Kies een rol."
    if errors:
        return _page(request, session, user, 422, errors=errors,
                     values={"email": email, "name": name, "role": role})
    password = secrets.token_urlsafe(12)
    session.add(StaffUser(email=address or "", name=name.strip(), role=StaffRole(role),
                          password_hash=hash_password(password)))
    session.commit()
    return _page(request, session, user,
                 new_secret=f"Eenmalig wachtwoord voor {address}: {password}")


@router.post("/medewerkers/{staff_id}/deactiveren", dependencies=[Depends(require_csrf)])
async def deactivate(staff_id: int, user: StaffUser = ADMIN,
                     session: Session = Depends(db)) -> Response:
    target = session.get(StaffUser, staff_id)
    if target is None or target.id == user.id:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    target.active = False
    session.add(target)
    session.commit()
    return RedirectResponse("/beheer", status_code=303)


@router.post("/tokens", dependencies=[Depends(require_csrf)])
async def add_token(
    request: Request,
    staff_id: Annotated[int, Form()],
    name: Annotated[str, Form()] = "",
    user: StaffUser = ADMIN,
    session: Session = Depends(db),
) -> Response:
    """The token is shown once; only its hash is stored."""
    owner = session.get(StaffUser, staff_id)
    if owner is None or not owner.active:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    token = new_api_token(session=session, staff=owner, name=name.strip() or "API")
    return _page(request, session, user,
                 new_secret=f"API-token voor {owner.name} (wordt maar één keer getoond): {token}")


@router.post("/tokens/{token_id}/intrekken", dependencies=[Depends(require_csrf)])
async def revoke_token(token_id: int, user: StaffUser = ADMIN,
                       session: Session = Depends(db)) -> Response:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    row.revoked = True
    session.add(row)
    session.commit()
    return RedirectResponse("/beheer", status_code=303)


@router.post("/beoordelaars", dependencies=[Depends(require_csrf)])
async def add_reviewer(
    request: Request,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    user: StaffUser = ADMIN,
    session: Session = Depends(db),
) -> Response:
    address = _valid_email(email)
    errors = {k: v for k, v in {"reviewer_email": None if address else EMAIL_INVALID,
                                "reviewer_name": None if name.strip() else NAME_REQUIRED
                                }.items() if v}
    if errors:
        return _page(request, session, user, 422, errors=errors,
                     values={"reviewer_email": email, "reviewer_name": name})
    upsert_reviewer(session=session, name=name.strip(), email=address or "")
    session.commit()
    return RedirectResponse("/beheer", status_code=303)
