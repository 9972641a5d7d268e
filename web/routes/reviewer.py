"""The reviewer's dossier behind the link in the assignment mail: the evidence, earlier rounds
and additions, and the findings form, once per round."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from domain import messages as m
from domain.decisions import CHOICE_LABELS, Findings
from domain.errors import (
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    LinkExpired,
    LinkInvalid,
    NotAllowed,
)
from domain.formatting import file_size
from service.access_log import Looked, record_look
from service.actions import act
from service.dossier import dossier, findings_open, reviewer_actor
from service.dossier import reviewer_case as case_of_link
from service.progress import PUBLIC_RECEIVED
from service.status_page import Case
from web.deps import SessionDep
from web.forms import form_fields, form_values, parse_form
from web.routes.signed_links import genuine_claims, link_page, signed
from web.security import client_of, require_csrf

router = APIRouter(include_in_schema=False)

REVIEWER_LINK_EXPIRED = (
    "Deze link naar het dossier is verlopen. Vraag het Kwaliteitsregister Paramedici (KP) om "
    "een nieuwe link; vermeld het kenmerk uit de e-mail."
)


def reviewer_case(session: Session, token: str) -> tuple[dict[str, Any], Case]:
    """The claims and the case, if the link is genuine and its reviewer still has the case.
    LinkExpired passes through: it gets its own page."""
    claims = genuine_claims("dossier", token)
    try:
        return claims, case_of_link(session, claims)
    except LinkInvalid as err:
        raise HTTPException(status_code=403, detail=m.LINK_INVALID) from err


def _dossier_page(request: Request, session: Session, token: str, claims: dict[str, Any],
                  case: Case, *, values: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None, status: int = 200) -> Response:
    page = dossier(session, case, claims)
    record_look(case, Looked.DOSSIER, actor=reviewer_actor(session, claims),
                client=client_of(request))
    context = {
        **{field.name: getattr(page, field.name) for field in fields(page)},
        "token": token, "outcomes": CHOICE_LABELS, "received_text": PUBLIC_RECEIVED,
        "fields": form_fields(Findings, values, errors) if page.open_form else [],
        "errors": errors or {}, "size": file_size,
    }
    return link_page(request, "reviewer_dossier.html", context, status)


def _reviewer_expired(request: Request) -> Response:
    return link_page(request, "link_expired.html", {"message": REVIEWER_LINK_EXPIRED}, 410)


@router.get("/beoordeling/{token}", response_class=HTMLResponse)
async def dossier_page(request: Request, token: str, session: SessionDep) -> Response:
    """The dossier, read-only, and the findings form while this round awaits findings."""
    try:
        claims, case = reviewer_case(session, token)
    except LinkExpired:
        return _reviewer_expired(request)
    return _dossier_page(request, session, token, claims, case)


@router.post("/beoordeling/{token}", dependencies=[signed("dossier"), Depends(require_csrf)])
async def send_findings(request: Request, token: str, session: SessionDep) -> Response:
    """One submission per round: a second one is a conflict, not a correction."""
    try:
        claims, case = reviewer_case(session, token)
    except LinkExpired:
        return _reviewer_expired(request)
    if not findings_open(session, case, int(claims["round"])):
        raise HTTPException(status_code=409, detail=m.ALREADY_DECIDED)
    form = await request.form()
    actor = reviewer_actor(session, claims)
    try:
        await act(case.number, Findings.action, parse_form(Findings, form), actor=actor)
    except InvalidInput as err:
        return _dossier_page(request, session, token, claims, case, values=form_values(form),
                             errors=err.errors, status=422)
    except (DecisionConflict, InvalidTransition) as err:
        raise HTTPException(status_code=409, detail=str(err)) from err
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    return RedirectResponse(f"/beoordeling/{token}", status_code=303)


