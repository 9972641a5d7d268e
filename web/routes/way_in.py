"""The way in for a practitioner (service/way_in.py): the public request form, the page that
says a confirmation link is on its way, and behind that link the upload form. A case is
created only by the upload form, with both files, after the address was confirmed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from domain import messages as m
from domain.errors import (
    InvalidInput,
    InvalidTransition,
    LinkExpired,
    LinkInvalid,
    RegistrationNotLapsed,
    Throttled,
)
from policies import specialisations
from service.documents import DocumentKind, Upload, check_upload
from service.links import status_path
from service.way_in import ask_confirmation, confirmed_request, open_confirmed_request
from settings import get_settings
from web.forms import form_values
from web.routes.practitioner import received_redirect
from web.routes.signed_links import link_page, signed
from web.security import client_of, require_csrf
from web.templating import templates

router = APIRouter(include_in_schema=False)

NOT_SENT = "Er is geen link verstuurd. Verbeter de gemarkeerde velden."
NOT_REGISTERED = ("Uw aanvraag is nog niet geregistreerd. Verbeter de gemarkeerde bestanden "
                  "en kies daarna beide bestanden opnieuw.")
REFUSED_HEADING = "Aanvraag niet mogelijk"


def _start_page(request: Request, form: dict[str, str], errors: dict[str, str] | None = None,
                notice: str | None = None, status: int = 200) -> Response:
    return templates().TemplateResponse(request, "request_start.html", {
        "user": None, "form": form, "errors": errors or {}, "notice": notice,
        "specialisations": specialisations(),
    }, status_code=status)


@router.get("/aanvragen", response_class=HTMLResponse)
def request_form(request: Request, kp: str = "", specialisatie: str = "") -> Response:
    """Filled in from the lapse mail's link: KP number and specialisation, never the address."""
    return _start_page(request, {"kp_number": kp.strip()[:20],
                                 "specialisation": specialisatie.strip().upper()[:10]})


@router.post("/aanvragen", dependencies=[Depends(require_csrf)])
async def ask_for_link(request: Request) -> Response:
    """One answer whatever was entered: a stranger learns nothing about who is registered;
    what the register knows goes in a mail to the address on file."""
    form = form_values(await request.form())
    try:
        await ask_confirmation({name: form.get(name, "").strip()
                                for name in ("kp_number", "email", "specialisation")},
                               client=client_of(request))
    except InvalidInput as err:
        return _start_page(request, form, err.errors, NOT_SENT, 422)
    except Throttled as err:
        return _start_page(request, form, notice=str(err), status=429)
    return templates().TemplateResponse(request, "request_sent.html", {
        "user": None, "message": m.REQUEST_ANSWER})


def _refused(request: Request, message: str, status: int) -> Response:
    return link_page(request, "request_refused.html",
                     {"heading": REFUSED_HEADING, "message": message}, status)


def _upload_page(request: Request, token: str, errors: dict[str, str] | None = None,
                 status: int = 200) -> Response:
    try:
        asked = confirmed_request(token)
    except LinkExpired:
        return _refused(request, m.REQUEST_LINK_EXPIRED, 410)
    except (LinkInvalid, ValueError):  # ValueError: claims no longer valid as a request
        return _refused(request, m.REQUEST_NOT_CONFIRMED, 403)
    except (InvalidInput, RegistrationNotLapsed, InvalidTransition) as err:
        message = " ".join(err.errors.values()) if isinstance(err, InvalidInput) else str(err)
        return _refused(request, message, 409)
    return link_page(request, "request_upload.html", {
        "token": token, "asked": asked, "errors": errors or {},
        "notice": NOT_REGISTERED if errors else None,
        "max_mb": get_settings().uploads.max_mb}, status)


@router.get("/aanvragen/{token}", response_class=HTMLResponse)
def upload_form(request: Request, token: str) -> Response:
    return _upload_page(request, token)


@router.post("/aanvragen/{token}",
             dependencies=[signed("request", m.REQUEST_NOT_CONFIRMED), Depends(require_csrf)])
async def send_files(request: Request, token: str) -> Response:
    """Both files are checked before anything is stored; the case is created with them."""
    form = await request.form()
    uploads: list[Upload] = []
    errors: dict[str, str] = {}
    for kind in DocumentKind:
        sent = form.get(kind.value)
        filename = sent.filename or "" if isinstance(sent, UploadFile) else ""
        content = await sent.read() if isinstance(sent, UploadFile) else b""
        try:
            uploads.append(await run_in_threadpool(check_upload, kind, filename, content))
        except InvalidInput as err:
            errors.update(err.errors)
    if errors:
        return _upload_page(request, token, errors, 422)
    try:
        outcome = await open_confirmed_request(token, uploads)
    except (LinkExpired, LinkInvalid, ValueError, RegistrationNotLapsed, InvalidTransition):
        return _upload_page(request, token)  # says why, as the link would now
    except InvalidInput as err:
        return _refused(request, " ".join(err.errors.values()), 409)
    target = status_path(outcome.case_id)
    return received_redirect(request, target, "request")
