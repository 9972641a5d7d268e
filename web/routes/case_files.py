"""What the practitioner sent and what VvOCM counted from it: the files (downloads for staff,
and for the reviewer through the dossier link) and the points-and-hours form (R6) that staff
fill in from those files, row by row."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition, LinkExpired, NotAllowed
from domain.formatting import format_number
from service.accounts import StaffRole, StaffUser
from service.actors import Actor
from service.documents import PDF, BlobDamaged, case_document, certificate_pdf
from service.dossier import reviewer_actor
from service.evidence import record_evidence
from service.read_model import evidence_view
from service.status_page import Case
from web.deps import db
from web.evidence_form import (
    CATEGORIES,
    Rows,
    evidence_from,
    place_errors,
    posted_rows,
    stored_rows,
)
from web.forms import Id, form_values
from web.routes.practitioner import status_case
from web.routes.reviewer import REVIEWER_LINK_EXPIRED, reviewer_case
from web.routes.signed_links import PRIVATE, link_page
from web.routes.staff import STAFF, case_or_404
from web.security import actor_for, client_of, require_csrf, roles_allowed
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
COUNTERS = roles_allowed(StaffRole.ASSOCIATION_STAFF, StaffRole.ADMIN)

DOCUMENT_NOT_FOUND = "Dit bestand hoort niet bij deze aanvraag."
DOCUMENT_DAMAGED = ("Dit bestand is beschadigd of ontbreekt in de opslag; de beheerder is "
                    "gewaarschuwd. Vraag de oefentherapeut het opnieuw te sturen.")
NO_CERTIFICATE = "Voor deze aanvraag is (nog) geen bewijs van herregistratie uitgegeven."
NOT_SAVED = "De punten en uren zijn niet opgeslagen. Verbeter de gemarkeerde velden."


def _download(request: Request, case: Case, document_id: int, session: Session,
              headers: dict[str, str], *, actor: Actor) -> Response:
    try:
        document, content = case_document(session, case, document_id, actor=actor,
                                          client=client_of(request))
    except LookupError as err:
        raise HTTPException(status_code=404, detail=DOCUMENT_NOT_FOUND) from err
    except BlobDamaged as err:
        log.error("Bestand %s van %s niet leesbaar: %s", document_id, case.number, err)
        raise HTTPException(status_code=500, detail=DOCUMENT_DAMAGED) from err
    return Response(content, media_type=document.media_type, headers={
        **headers, "Content-Disposition": f"attachment; filename*=UTF-8''"
                                          f"{quote(document.filename)}",
        "Content-Security-Policy": "sandbox; default-src 'none'",
    })


@router.get("/zaken/{number}/documenten/{document_id}")
def staff_download(request: Request, number: str, document_id: Id, user: StaffUser = STAFF,
                   session: Session = Depends(db)) -> Response:
    case = case_or_404(session, number)
    return _download(request, case, document_id, session,
                     {"Cache-Control": "private, no-store"}, actor=actor_for(user))


@router.get("/beoordeling/{token}/documenten/{document_id}")
def reviewer_download(request: Request, token: str, document_id: Id,
                      session: Session = Depends(db)) -> Response:
    try:
        claims, case = reviewer_case(session, token)
    except LinkExpired:
        return link_page(request, "link_expired.html", {"message": REVIEWER_LINK_EXPIRED}, 410)
    return _download(request, case, document_id, session, PRIVATE,
                     actor=reviewer_actor(session, claims))


def _certificate(session: Session, case: Case, headers: dict[str, str]) -> Response:
    """The certificate PDF as it was mailed (kept by its hash)."""
    try:
        number, content = certificate_pdf(session, case.id or 0)
    except LookupError as err:
        raise HTTPException(status_code=404, detail=NO_CERTIFICATE) from err
    except BlobDamaged as err:
        log.error("Bewijs van %s niet leesbaar: %s", case.number, err)
        raise HTTPException(status_code=500, detail=DOCUMENT_DAMAGED) from err
    return Response(content, media_type=PDF, headers={
        **headers, "Content-Disposition": "attachment; filename="
                                          f"bewijs-van-herregistratie-{number}.pdf",
        "Content-Security-Policy": "sandbox; default-src 'none'"})


@router.get("/zaken/{number}/bewijs")
def staff_certificate(number: str, _user: StaffUser = STAFF,
                      session: Session = Depends(db)) -> Response:
    case = case_or_404(session, number)
    return _certificate(session, case, {"Cache-Control": "private, no-store"})


@router.get("/status/{token}/bewijs")
def practitioner_certificate(request: Request, token: str,
                             session: Session = Depends(db)) -> Response:
    try:
        case = status_case(session, token)
    except LinkExpired:
        return link_page(request, "link_expired.html", {"message": m.LINK_EXPIRED}, 410)
    return _certificate(session, case, PRIVATE)


def _evidence_page(request: Request, session: Session, user: StaffUser, number: str,
                   rows: Rows | None = None, errors: dict[str, str] | None = None,
                   notice: str | None = None, status: int = 200) -> Response:
    case = case_or_404(session, number)
    view = evidence_view(session, case)
    context: dict[str, Any] = {
        "user": user, "case": case, "policy": view.policy, "practitioner": view.practitioner,
        "rows": rows if rows is not None else stored_rows(case.evidence),
        "errors": errors or {}, "notice": notice, "categories": CATEGORIES,
        "open": view.open, "verdict": view.verdict,
        "points_total": format_number(view.verdict.points_total),
        "hours_total": format_number(view.verdict.hours_total),
        "case_url": f"/zaken/{quote(case.number)}", "bot_days": view.bot_days,
    }
    return templates().TemplateResponse(request, "evidence.html", context, status_code=status)


@router.get("/zaken/{number}/punten", response_class=HTMLResponse)
def evidence_form(request: Request, number: str, user: StaffUser = COUNTERS,
                  session: Session = Depends(db)) -> Response:
    return _evidence_page(request, session, user, number)


@router.post("/zaken/{number}/punten", dependencies=[COUNTERS, Depends(require_csrf)])
async def save_evidence(request: Request, number: str, user: StaffUser = COUNTERS,
                        session: Session = Depends(db)) -> Response:
    form = form_values(await request.form())
    rows, more = posted_rows(form)
    if more:
        return _evidence_page(request, session, user, number, rows)
    evidence, origin = evidence_from(rows)
    try:
        case = record_evidence(number, evidence, actor=actor_for(user))
    except InvalidInput as err:
        errors = place_errors(err.errors, rows, origin)
        return _evidence_page(request, session, user, number, rows, errors, NOT_SAVED, 422)
    except InvalidTransition as err:
        return _evidence_page(request, session, user, number, rows, notice=str(err),
                              status=409)
    except NotAllowed as err:
        raise HTTPException(status_code=403, detail=str(err)) from err
    request.session["flash"] = m.EVIDENCE_SAVED
    return RedirectResponse(f"/zaken/{quote(case.number)}#punten", status_code=303)
