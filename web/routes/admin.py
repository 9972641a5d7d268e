"""Admin pages: staff accounts (VvOCM, KP, admin), API tokens, reviewers, and the operator's
view of dead letters (mail the SMTP server refused for good) with a resend action."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from domain import messages as m
from domain.errors import CaseNotFound, DecisionConflict, InvalidInput, InvalidTransition
from domain.formatting import format_stamp
from service.access_log import LookRow, looks
from service.accounts import (
    StaffRole,
    StaffUser,
    add_reviewer,
    create_staff,
    deactivate_staff,
    new_api_token,
    reactivate_staff,
    revoke_api_token,
)
from service.admin import admin_view, email_in_use, staff_member
from service.identity import resolve_conflict
from service.imports import ImportFileError, decode_export, import_registrations
from service.mail import resend_mail
from service.progress import sweep_health
from settings import get_settings
from web.deps import db
from web.forms import MAX_ID, Id, form_values, small_int
from web.security import actor_for, require_csrf, roles_allowed
from web.templating import templates

router = APIRouter(prefix="/beheer", include_in_schema=False)
ADMIN = roles_allowed(StaffRole.ADMIN)
ROLE_NAMES = {StaffRole.ASSOCIATION_STAFF: "Medewerker VvOCM",
              StaffRole.REGISTER_STAFF: "Medewerker KP", StaffRole.ADMIN: "Beheerder"}
EMAIL_INVALID = "Vul een geldig e-mailadres in."
EMAIL_TAKEN = "Er bestaat al een account met dit e-mailadres."
NAME_REQUIRED = "Vul een naam in."
NOT_FOUND = "Niet gevonden."
FILE_REQUIRED = "Kies het CSV-bestand met de registraties."
REJECTIONS_SHOWN = 500


def _valid_email(value: str) -> str | None:
    """A staff member's address. Outside production a `.local` address is accepted too (the
    demo's own logins are `@demo.local`, which the strict check calls a reserved name)."""
    value = value.strip()
    local = value.lower().endswith(".local") and get_settings().environment != "production"
    try:
        checked = TypeAdapter(EmailStr).validate_python(
            value[:-len(".local")] + ".example" if local else value)
    except ValidationError:
        return None
    return (value if local else str(checked)).lower()


def _page(request: Request, session: Session, user: StaffUser, status: int = 200,
          **extra: object) -> Response:
    view = admin_view(session)
    context = {"user": user, "staff": view.staff, "tokens": view.tokens,
               "conflicts": view.conflicts,
               "reviewers": view.reviewers, "roles": ROLE_NAMES, "errors": {}, "values": {},
               "new_secret": None, "done": None, "notice": None, "dead": view.dead,
               "import_max_mb": get_settings().uploads.import_max_mb,
               "sweep": sweep_health(session), **extra}
    return templates().TemplateResponse(request, "admin.html", context, status_code=status)


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, user: StaffUser = ADMIN,
                   session: Session = Depends(db)) -> Response:
    return _page(request, session, user)


@router.post("/medewerkers", dependencies=[ADMIN, Depends(require_csrf)])
async def add_staff(request: Request, user: StaffUser = ADMIN,
                    session: Session = Depends(db)) -> Response:
    """A new account gets a one-time password, shown once to the admin to pass on."""
    typed = form_values(await request.form())  # read after the role check, as everywhere
    email, name, role = (typed.get(k, "") for k in ("email", "name", "role"))
    errors: dict[str, str] = {}
    address = _valid_email(email)
    if address is None:
        errors["email"] = EMAIL_INVALID
    elif email_in_use(session, address):
        errors["email"] = EMAIL_TAKEN
    if not name.strip() or len(name) > 200:
        errors["name"] = NAME_REQUIRED
    if role not in {r.value for r in StaffRole}:
        errors["role"] = "Kies een rol."
    if errors:
        return _page(request, session, user, 422, errors=errors,
                     values={"email": email, "name": name, "role": role})
    password = create_staff(email=address or "", name=name, role=StaffRole(role))
    return _page(request, session, user,
                 new_secret=f"Eenmalig wachtwoord voor {address}: {password}")


@router.post("/medewerkers/{staff_id}/deactiveren", dependencies=[ADMIN, Depends(require_csrf)])
async def deactivate(staff_id: Id, user: StaffUser = ADMIN) -> Response:
    """The account's logins and claims end at once."""
    if staff_id == user.id:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    try:
        deactivate_staff(staff_id)
    except LookupError as err:
        raise HTTPException(status_code=404, detail=NOT_FOUND) from err
    return RedirectResponse("/beheer", status_code=303)


@router.post("/medewerkers/{staff_id}/heractiveren", dependencies=[ADMIN, Depends(require_csrf)])
async def reactivate(request: Request, staff_id: Id, user: StaffUser = ADMIN,
                     session: Session = Depends(db)) -> Response:
    """Back in service with a new one-time password, shown once to pass on."""
    try:
        password = reactivate_staff(staff_id)
    except LookupError as err:
        raise HTTPException(status_code=404, detail=NOT_FOUND) from err
    target = staff_member(session, staff_id)
    return _page(request, session, user, new_secret=f"Eenmalig wachtwoord voor "
                 f"{target.email if target else ''}: {password}")


@router.post("/tokens", dependencies=[ADMIN, Depends(require_csrf)])
async def add_token(request: Request, user: StaffUser = ADMIN,
                    session: Session = Depends(db)) -> Response:
    """The token is shown once; only its hash is stored."""
    typed = form_values(await request.form())
    staff_id, name = small_int(typed.get("staff_id", "")), typed.get("name", "")
    if staff_id is None or staff_id > MAX_ID:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    owner = staff_member(session, staff_id)
    try:
        token = new_api_token(staff_id=staff_id, name=name.strip()[:100] or "API")
    except LookupError as err:
        raise HTTPException(status_code=404, detail=NOT_FOUND) from err
    return _page(request, session, user, new_secret=f"API-token voor "
                 f"{owner.name if owner else ''} (wordt maar één keer getoond): {token}")


@router.post("/tokens/{token_id}/intrekken", dependencies=[ADMIN, Depends(require_csrf)])
async def revoke_token(token_id: Id, user: StaffUser = ADMIN) -> Response:
    try:
        revoke_api_token(token_id)
    except LookupError as err:
        raise HTTPException(status_code=404, detail=NOT_FOUND) from err
    return RedirectResponse("/beheer", status_code=303)


@router.post("/beoordelaars", dependencies=[ADMIN, Depends(require_csrf)])
async def add_reviewer_page(request: Request, user: StaffUser = ADMIN,
                            session: Session = Depends(db)) -> Response:
    typed = form_values(await request.form())
    email, name = typed.get("email", ""), typed.get("name", "")
    address = _valid_email(email)
    errors = {k: v for k, v in {"reviewer_email": None if address else EMAIL_INVALID,
                                "reviewer_name": None if name.strip() and len(name) <= 200
                                else NAME_REQUIRED}.items() if v}
    if errors:
        return _page(request, session, user, 422, errors=errors,
                     values={"reviewer_email": email, "reviewer_name": name})
    add_reviewer(name=name, email=address or "")
    return RedirectResponse("/beheer", status_code=303)


@router.post("/registraties", dependencies=[ADMIN, Depends(require_csrf)])
async def import_registrations_page(request: Request, user: StaffUser = ADMIN,
                                    session: Session = Depends(db)) -> Response:
    """The CLI's `import registrations` as a page: the report, or the file's Dutch error."""
    form = await request.form()
    sent = form.get("bestand")
    content = await sent.read() if isinstance(sent, UploadFile) else b""
    if not content:
        return _page(request, session, user, 422, errors={"registrations": FILE_REQUIRED})
    try:
        report = await run_in_threadpool(
            import_registrations, decode_export(content), actor=actor_for(user),
            source=(sent.filename if isinstance(sent, UploadFile) else "") or "upload.csv",
            dry_run=form.get("proef") == "ja")
    except ImportFileError as err:
        return _page(request, session, user, 422, errors={"registrations": str(err)})
    return templates().TemplateResponse(request, "import_report.html", {
        "user": user, "report": report, "shown": report.rejected[:REJECTIONS_SHOWN],
        "more": max(0, len(report.rejected) - REJECTIONS_SHOWN),
    }, status_code=422 if report.rejected else 200)


@router.post("/conflicten/{conflict_id}", dependencies=[ADMIN, Depends(require_csrf)])
async def decide_conflict(request: Request, conflict_id: Id, user: StaffUser = ADMIN,
                          session: Session = Depends(db)) -> Response:
    """Apply an import's other name or e-mail address, or set it aside: a person's recorded
    decision either way."""
    form = await request.form()
    choice, reason = str(form.get("besluit", "")), str(form.get("reden", ""))
    if choice not in ("toepassen", "afwijzen"):
        raise HTTPException(status_code=422, detail=m.CONFLICT_CHOICE)
    try:
        resolve_conflict(conflict_id, apply=choice == "toepassen", reason=reason,
                         actor=actor_for(user))
    except InvalidInput as err:
        return _page(request, session, user, status=422,
                     notice=err.errors.get("reason", ""))
    except DecisionConflict as err:
        raise HTTPException(status_code=409, detail=str(err)) from err
    return _page(request, session, user, done=m.CONFLICT_APPLIED
                 if choice == "toepassen" else m.CONFLICT_DISMISSED)


@router.post("/mail/{mail_id}/opnieuw", dependencies=[ADMIN, Depends(require_csrf)])
async def resend(request: Request, mail_id: Id, user: StaffUser = ADMIN,
                 session: Session = Depends(db)) -> Response:
    """A dead letter goes back in the outbox and is tried at once."""
    try:
        await resend_mail(mail_id, actor=actor_for(user))
    except InvalidTransition as err:
        raise HTTPException(status_code=409, detail=str(err)) from err
    return RedirectResponse("/beheer#onbestelbaar", status_code=303)


@router.get("/inzage", response_class=HTMLResponse)
def access_log_page(request: Request, user: StaffUser = ADMIN,
                    session: Session = Depends(db),
                    case_number: str = Query("", alias="zaak", max_length=20),
                    kp_number: str = Query("", alias="kp", max_length=9)) -> Response:
    """Who looked at a case, or at any case of one practitioner (admins only)."""
    whose, rows, error = "", list[LookRow](), None
    if case_number.strip() or kp_number.strip():
        try:
            whose, rows = looks(session, case_number=case_number, kp_number=kp_number)
        except CaseNotFound:
            error = m.CASE_NOT_FOUND.format(case=case_number.strip())
        except InvalidInput as err:
            error = " ".join(err.errors.values())
    return templates().TemplateResponse(request, "access_log.html", {
        "user": user, "case_number": case_number, "kp_number": kp_number, "whose": whose,
        "rows": rows, "error": error, "time": format_stamp},
        status_code=404 if error else 200)
