"""The reviewer's dossier behind the link in the assignment mail: the evidence, earlier rounds
and additions, and the findings form, once per round."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from domain import messages as m
from domain.decisions import CHOICE_LABELS, Findings
from domain.errors import (
    CaseNotFound,
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    LinkExpired,
    NotAllowed,
)
from domain.procedure import ADDITIONS, FINDINGS, round_of
from domain.states import Role
from models.case import Case, CaseEvent, case_policy, case_verdict, get_case, history
from models.document import case_documents
from models.practitioner import Practitioner
from models.review import case_reviews, get_reviewer
from policies import Evidence
from service.actions import act
from service.actors import Actor
from service.read_model import PUBLIC_RECEIVED, case_progress, refresh_seconds, when
from tasks.rendering import file_size, format_number
from web.deps import db
from web.forms import form_fields, form_values, parse_form
from web.routes.signed_links import decision_rows, genuine_claims, link_page, signed
from web.security import require_csrf

router = APIRouter(include_in_schema=False)

REVIEWER_LINK_EXPIRED = (
    "Deze link naar het dossier is verlopen. Vraag het Kwaliteitsregister Paramedici (KP) om "
    "een nieuwe link; vermeld het kenmerk uit de e-mail."
)
CATEGORY_LABELS = {"course": "Cursus", "other": "Overige activiteit"}


def reviewer_case(session: Session, token: str) -> tuple[dict[str, Any], Case]:
    """The claims and the case, if the link is genuine and its reviewer still has the case.
    LinkExpired passes through: it gets its own page."""
    claims = genuine_claims("dossier", token)
    try:
        case = get_case(session=session, case_id=int(claims["case"]))
    except (CaseNotFound, KeyError, TypeError, ValueError) as err:
        raise HTTPException(status_code=403, detail=m.LINK_INVALID) from err
    if claims.get("role") != "reviewer" or case.reviewer_id is None \
            or case.reviewer_id != claims.get("reviewer"):
        raise HTTPException(status_code=403, detail=m.LINK_INVALID)
    return claims, case


def _findings_sent(events: list[CaseEvent], round: int) -> CaseEvent | None:
    """The findings recorded for this round (a pause reopened after bad Prefect UI input gets
    a `-retry-n` key)."""
    sent = [e for e in decision_rows(events, FINDINGS.action)
            if round_of(e.key.removeprefix("decision:")) == round]
    return sent[-1] if sent else None


def _evidence(case: Case) -> dict[str, Any]:
    evidence = Evidence.model_validate(case.evidence)
    return {
        "activities": [
            {"on": a.on, "title": a.title, "points": format_number(a.points),
             "category": CATEGORY_LABELS[a.category], "accredited": a.accredited}
            for a in sorted(evidence.activities, key=lambda a: a.on)
        ],
        "work_hours": [
            {"start": w.start, "end": w.end, "hours": format_number(w.hours),
             "description": w.description}
            for w in sorted(evidence.work_hours, key=lambda w: w.start)
        ],
        "bot_days": sorted(d.on for d in evidence.bot_days),
    }


def _dossier_page(request: Request, session: Session, token: str, claims: dict[str, Any],
                  case: Case, *, values: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None, status: int = 200) -> Response:
    round = int(claims["round"])
    events = history(session=session, case_id=case.id or 0)
    sent = _findings_sent(events, round)
    practitioner = session.get(Practitioner, case.practitioner_id)
    reviewer = get_reviewer(session=session, reviewer_id=int(claims["reviewer"]))
    verdict = case_verdict(case)
    processing = sent is not None and case.awaiting_action == FINDINGS.action \
        and case.review_round == round
    open_form = sent is None and case.awaiting_action == FINDINGS.action \
        and case.review_round == round
    context = {
        "token": token, "case": case, "round": round, "reviewer": reviewer,
        "practitioner": practitioner, "specialisation": case_policy(case).name,
        "evidence": _evidence(case), "verdict": verdict,
        "points": {k: format_number(v) for k, v in verdict.points_by_category.items()},
        "points_total": format_number(verdict.points_total),
        "hours_total": format_number(verdict.hours_total),
        "reviews": [r for r in case_reviews(session=session, case_id=case.id or 0)
                    if r.round < round and r.outcome is not None],
        "outcomes": CHOICE_LABELS,
        "additions": [
            {"when": when(e.at), "supplied_on": e.input.get("supplied_on", ""),
             "description": e.input.get("description", "")}
            for e in decision_rows(events, ADDITIONS.action)
        ],
        "sent": None if sent is None else {
            "outcome": CHOICE_LABELS.get(str(sent.input.get("outcome")), ""),
            "explanation": sent.input.get("explanation", ""), "when": when(sent.at),
        },
        "processing": processing,
        "refresh_seconds": refresh_seconds(case_progress(session, case)) if processing else None,
        "received_text": PUBLIC_RECEIVED,
        "fields": form_fields(Findings, values, errors) if open_form else [],
        "errors": errors or {},
        "documents": case_documents(session=session, case_id=case.id or 0), "size": file_size,
    }
    return link_page(request, "reviewer_dossier.html", context, status)


def _reviewer_expired(request: Request) -> Response:
    return link_page(request, "link_expired.html", {"message": REVIEWER_LINK_EXPIRED}, 410)


@router.get("/beoordeling/{token}", response_class=HTMLResponse)
async def dossier(request: Request, token: str, session: Session = Depends(db)) -> Response:
    """The dossier, read-only, and the findings form while this round awaits findings."""
    try:
        claims, case = reviewer_case(session, token)
    except LinkExpired:
        return _reviewer_expired(request)
    return _dossier_page(request, session, token, claims, case)


@router.post("/beoordeling/{token}", dependencies=[signed("dossier"), Depends(require_csrf)])
async def send_findings(request: Request, token: str,
                        session: Session = Depends(db)) -> Response:
    """One submission per round: a second one is a conflict, not a correction."""
    try:
        claims, case = reviewer_case(session, token)
    except LinkExpired:
        return _reviewer_expired(request)
    round = int(claims["round"])
    if case.review_round != round \
            or _findings_sent(history(session=session, case_id=case.id or 0), round):
        raise HTTPException(status_code=409, detail=m.ALREADY_DECIDED)
    form = await request.form()
    reviewer = get_reviewer(session=session, reviewer_id=int(claims["reviewer"]))
    actor = Actor(Role.REVIEWER, reviewer.name, reviewer_id=reviewer.id, review_round=round)
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


