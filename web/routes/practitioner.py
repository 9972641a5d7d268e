"""The practitioner's status page behind the link in every mail: where the case is, what comes
next, the forms for what the practitioner must do, and a fresh link (to the registered address
only) when the old one expired."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from domain import messages as m
from domain.decisions import Withdrawal
from domain.errors import (
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    LinkExpired,
    LinkInvalid,
    NotAllowed,
)
from domain.formatting import file_size
from domain.procedure import DECISIONS
from service.actions import act
from service.links import claims_however_old
from service.status_page import (
    Case,
    address_on_file,
    linked_case,
    practitioner_actor,
    send_fresh_link,
)
from service.status_page import status_page as page_of
from service.status_view import PRACTITIONER_ACTIONS
from web.deps import SessionDep
from web.diagram import step_diagram
from web.forms import form_fields, form_values, parse_form
from web.routes.signed_links import (
    genuine_claims,
    link_page,
    mask_email,
    signed,
)
from web.security import require_csrf

router = APIRouter(include_in_schema=False)

STATUS_LINK_EXPIRED = (
    "Deze link naar uw aanvraag is verlopen. Vraag hieronder een nieuwe link aan; wij sturen "
    "die naar het e-mailadres dat bij ons bekend is."
)
FRESH_LINK_SENT = "We hebben een nieuwe link gestuurd naar {email}."
FRESH_LINK_RECENT = (
    "Er is in het afgelopen uur al een nieuwe link gestuurd naar {email}. Kijk in uw mailbox, "
    "ook bij ongewenste e-mail. Een volgende link kunt u over een uur aanvragen."
)
# After the practitioner's own action, said in their words (the status under it is current).
RECEIVED_THANKS = {
    "request": "We hebben uw aanvraag en uw bestanden ontvangen. Hieronder ziet u waar uw "
               "aanvraag staat; de link naar deze pagina staat ook in de bevestigingsmail.",
    "submit": "We hebben uw indiening ontvangen.",
    "completion_supplied": "We hebben de ontbrekende onderdelen ontvangen.",
    "additions_supplied": "We hebben uw aanvulling ontvangen.",
    "withdraw": "We hebben uw verzoek om de aanvraag in te trekken ontvangen.",
    "startgesprek": m.SLOT_CHOSEN,
}

RECEIVED_FLASH = "received"


def received_redirect(request: Request, target: str, what: str) -> Response:
    """To the status page, which says once that `what` was received (a flash)."""
    request.session[RECEIVED_FLASH] = what
    return RedirectResponse(target, status_code=303)


def status_case(session: Session, token: str) -> Case:
    """The case of a genuine, unexpired status link. LinkExpired passes through."""
    return _claimed_case(session, genuine_claims("status", token))


def _claimed_case(session: Session, claims: Any) -> Case:
    try:
        return linked_case(session, claims)
    except LinkInvalid as err:
        raise HTTPException(status_code=403, detail=m.LINK_INVALID) from err


def status_page(request: Request, session: Session, token: str, case: Case, *,
                received: str | None = None, failed: str | None = None,
                values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                problem: str | None = None, status: int = 200) -> Response:
    """`failed`: the action whose form came back with `errors` and the typed `values`;
    `problem`: what went wrong with a click that has no form fields of its own."""
    page = page_of(session, case)
    view = page.view

    def fields(action: str) -> Any:
        mine = failed == action
        return form_fields(DECISIONS[action], values if mine else None, errors if mine else None)

    forms = [{"action": view.action, "title": DECISIONS[view.action].title,
              "fields": fields(view.action)}] if view.action else []
    context = {
        "token": token, "case": case, "view": view, "diagram": step_diagram(page.path),
        "received": RECEIVED_THANKS.get(received or ""),
        "refresh_seconds": page.refresh_seconds,
        "documents": page.documents, "size": file_size,
        "certificate_pdf": page.certificate_pdf,
        "forms": forms, "withdraw": fields(Withdrawal.action) if view.can_withdraw else None,
        "withdraw_error": (errors or {}).get("bevestigen") if failed == "withdraw" else None,
        "other_errors": [msg for key, msg in (errors or {}).items()
                         if failed and key not in DECISIONS[failed].model_fields
                         and key != "bevestigen"] + ([problem] if problem else []),
        "slots": page.slots,
    }
    return link_page(request, "status_page.html", context, status)


def _status_expired(request: Request, session: Session, token: str) -> Response:
    claims = claims_however_old("status", token)
    if claims is None:
        raise HTTPException(status_code=403, detail=m.LINK_INVALID)
    case = _claimed_case(session, claims)
    return link_page(request, "status_expired.html", {
        "token": token, "message": STATUS_LINK_EXPIRED,
        "email": mask_email(address_on_file(session, case))}, 410)


@router.post("/status/nieuwe-link", dependencies=[Depends(require_csrf)])
async def fresh_link(request: Request, session: SessionDep) -> Response:
    """Forged tokens get nothing; a genuine one (however old) gets a link to its own case,
    sent to the address on file, never to one typed here."""
    form = await request.form()
    token = form.get("token")
    claims = claims_however_old("status", token) if isinstance(token, str) else None
    if claims is None:
        raise HTTPException(status_code=403, detail=m.LINK_INVALID)
    case = _claimed_case(session, claims)
    address = address_on_file(session, case)
    sent = await send_fresh_link(case.id or 0)
    message = (FRESH_LINK_SENT if sent else FRESH_LINK_RECENT).format(email=mask_email(address))
    return link_page(request, "status_fresh_link.html", {"message": message, "sent": sent})


@router.get("/status/{token}", response_class=HTMLResponse)
async def status(request: Request, token: str, session: SessionDep) -> Response:
    """Where the case is, what comes next and who acts, and the practitioner's own forms.
    What the last click did is said once, in the response to it (a flash), never again on
    a reload or a bookmark."""
    try:
        case = status_case(session, token)
    except LinkExpired:
        return _status_expired(request, session, token)
    received = request.session.pop(RECEIVED_FLASH, None)
    return status_page(request, session, token, case,
                       received=received if isinstance(received, str) else None)


@router.post("/status/{token}/acties/{action}",
             dependencies=[signed("status"), Depends(require_csrf)])
async def practitioner_action(request: Request, token: str, action: str,
                              session: SessionDep) -> Response:
    try:
        case = status_case(session, token)
    except LinkExpired:
        return _status_expired(request, session, token)
    allowed = (*PRACTITIONER_ACTIONS, Withdrawal.action)
    if action not in allowed:
        raise HTTPException(status_code=404, detail=m.UNKNOWN_ACTION.format(
            action=action, actions=", ".join(allowed)))
    kind = DECISIONS[action]
    form = await request.form()
    values = form_values(form)
    if kind is Withdrawal and values.get("bevestigen") != "ja":
        return status_page(request, session, token, case, failed=action, values=values,
                            errors={"bevestigen": m.CONFIRM_WITHDRAW}, status=422)
    pause_key = values.get("pause_key") or None
    try:
        await act(case.number, action, parse_form(kind, form),
                  actor=practitioner_actor(session, case),
                  pause_key=None if kind is Withdrawal else pause_key)
    except InvalidInput as err:
        return status_page(request, session, token, case, failed=action, values=values,
                            errors=err.errors, status=422)
    except (DecisionConflict, InvalidTransition) as err:
        raise HTTPException(status_code=409, detail=str(err)) from err
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    return received_redirect(request, f"/status/{token}", action)
