"""The JSON API (/api/v1): open, list and read cases, and one endpoint per decision.

Every change goes through `service.actions`, exactly as the pages do. Staff authenticate with
an API token; reviewers and practitioners with the signed token from their mail link, which
is good for its own case only. Refusals are Dutch; bad input is a 422 naming each field and
records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlmodel import Session

from domain import messages as m
from domain.errors import (
    CaseError,
    CaseNotFound,
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    LinkExpired,
    LinkInvalid,
    NotAllowed,
    RegistrationNotLapsed,
    Unavailable,
)
from domain.states import CaseState, Role
from flows.inputs import DECISIONS, Decision
from models.case import Case, case_policy, case_verdict, find_case, history
from models.certificate import CertificatePublic, get_certificate
from models.db import read_session
from models.invoice import InvoicePublic, case_invoices
from models.outbox import case_mails
from models.practitioner import Practitioner, PractitionerPublic
from models.review import Reviewer, ReviewPublic, case_reviews
from models.staff import StaffRole
from service.accounts import staff_from_token
from service.actions import CaseRequest, Outcome, act, open_case, restart_case
from service.actors import Actor
from service.read_model import (
    CaseQuery,
    Phase,
    StatusView,
    case_progress,
    find_cases,
    status_view,
)
from service.validation import dutch_errors
from tasks.links import Purpose, read_token
from web.deps import db
from web.security import actor_for

INVALID_INPUT = "Ongeldige invoer"
JSON_INVALID = "De invoer is geen geldige JSON."
LINK_OTHER_CASE = "Deze link hoort bij een andere aanvraag."
LINK_OLD_ROUND = "Deze link hoort bij een eerdere beoordelingsronde."
RESTART_TITLE = "Aanvraag herstarten"
OPEN_TITLE = "Aanvraag registreren"
READ_TITLE = "Aanvraag inzien"

router = APIRouter(prefix="/api/v1")

bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiToken",
    description="API-token van een medewerker: `Authorization: Bearer hr_...`.",
)
link_header = APIKeyHeader(
    name="X-Link-Token", auto_error=False, scheme_name="LinkToken",
    description="Het token uit de link in de e-mail aan de beoordelaar (`/beoordeling/<token>`) "
    "of de oefentherapeut (`/status/<token>`); geldig voor die ene aanvraag.",
)


# --- response bodies --------------------------------------------------------------------------


class Problem(BaseModel):
    detail: str


class Conflict(BaseModel):
    detail: str
    state: CaseState | None = Field(description="De huidige status van de aanvraag")


class InvalidBody(BaseModel):
    detail: str
    errors: dict[str, str] = Field(description="Per veld wat er mis is")


class OutcomeOut(BaseModel):
    case_id: int
    number: str
    state: CaseState
    delivered: bool = Field(description="Doorgegeven aan de workflow (anders later, door de sweep)")
    message: str


class CaseItem(BaseModel):
    number: str
    state: CaseState
    state_label: str
    specialisation: str
    request_date: date
    awaiting_action: str | None = Field(description="De actie waarop de aanvraag wacht")
    awaiting_title: str | None
    pause_key: str | None = Field(description="De stap waar het besluit op antwoordt")
    due_on: date | None = Field(description="Uiterste datum van die actie")
    practitioner_name: str
    kp_number: str


class CasePage(BaseModel):
    items: list[CaseItem]
    total: int
    limit: int
    offset: int


class MailOut(BaseModel):
    key: str
    template: str
    recipient: str
    subject: str
    status: str
    sent_at: datetime | None


class EventOut(BaseModel):
    at: datetime
    kind: str
    actor_role: Role
    actor_role_label: str
    actor_name: str
    action: str
    action_title: str | None
    input: dict[str, Any]
    from_state: CaseState | None
    to_state: CaseState | None
    mails: list[MailOut]


class VerdictOut(BaseModel):
    """R6: points and hours over the five years before the request."""

    sufficient: bool
    window_start: date
    window_end: date
    points_total: Decimal
    points_by_category: dict[str, Decimal]
    hours_total: Decimal
    months_with_hours: int
    bot_days_held: int | None
    bot_days_attended: int | None
    bot_days_required: int | None
    shortfalls: list[str]
    notes: list[str]


class CaseDetail(CaseItem):
    specialisation_name: str
    closed: bool
    reopened_on: date | None
    submitted_on: date | None
    review_round: int
    progress: Phase = Field(description="waiting: wacht op een persoon; processing: een besluit "
                            "wordt verwerkt; delayed: dat duurt langer dan normaal en wordt "
                            "automatisch hersteld; stuck: vastgelopen, herstarten nodig")
    progress_message: str | None
    practitioner: PractitionerPublic
    verdict: VerdictOut
    history: list[EventOut]
    invoices: list[InvoicePublic]
    reviews: list[ReviewPublic]
    certificate: CertificatePublic | None


CASE_NUMBER = Path(max_length=30, description="Aanvraagnummer (HR-2026-00001) of id")
PAUSE_KEY = Query(None, max_length=60, pattern=r"^[a-z0-9-]+$",
                  description="De stap waarop het besluit antwoordt (`pause_key` uit de aanvraag); "
                  "is de aanvraag intussen verder, dan volgt 409 in plaats van een besluit voor "
                  "een volgende stap")

REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Geen of ongeldige inloggegevens"},
    403: {"model": Problem, "description": "Deze rol of link mag dit niet"},
    422: {"model": InvalidBody, "description": "Ongeldige invoer, per veld"},
}
ON_CASE: dict[int | str, dict[str, Any]] = {
    **REFUSED,
    404: {"model": Problem, "description": "Aanvraag bestaat niet"},
    409: {"model": Conflict, "description": "Kan niet in de huidige status"},
}


# --- who is calling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; `case_id` is set for a link, which is good for that case only."""

    actor: Actor
    staff_role: StaffRole | None = None
    case_id: int | None = None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail,
                         headers={"WWW-Authenticate": "Bearer"})


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status_code=403, detail=detail)


def _from_api_token(session: Session,
                    credentials: HTTPAuthorizationCredentials | None) -> Principal:
    user = None if credentials is None else staff_from_token(session=session,
                                                             token=credentials.credentials)
    if user is None:
        raise _unauthorized(m.TOKEN_INVALID)
    return Principal(actor_for(user), staff_role=user.role)


def _read_link(token: str) -> dict[str, Any]:
    """The claims of a status or dossier token; each purpose has its own signing salt."""
    purposes: tuple[Purpose, ...] = ("status", "dossier")
    for purpose in purposes:
        try:
            return read_token(purpose, token)
        except LinkExpired as err:
            raise _unauthorized(m.LINK_EXPIRED) from err
        except LinkInvalid:
            continue
    raise _unauthorized(m.LINK_INVALID)


def _from_link(session: Session, token: str) -> Principal:
    claims = _read_link(token)
    case_id = claims.get("case")
    case = session.get(Case, case_id) if isinstance(case_id, int) else None
    if case is None:
        raise _unauthorized(m.LINK_INVALID)
    if claims.get("role") == "reviewer":
        reviewer = session.get(Reviewer, claims.get("reviewer"))
        if reviewer is None:
            raise _unauthorized(m.LINK_INVALID)
        if claims.get("round") != case.review_round:
            raise _unauthorized(LINK_OLD_ROUND)
        actor = Actor(Role.REVIEWER, reviewer.name, reviewer_id=reviewer.id,
                      review_round=case.review_round)
    else:
        practitioner = session.get(Practitioner, case.practitioner_id)
        actor = Actor(Role.PRACTITIONER, practitioner.name if practitioner else "")
    return Principal(actor, case_id=case.id)


def staff_principal(credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                    session: Session = Depends(db)) -> Principal:
    return _from_api_token(session, credentials)


def any_principal(credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                  link: str | None = Depends(link_header),
                  session: Session = Depends(db)) -> Principal:
    """A staff token if one is sent, otherwise a mail-link token."""
    if credentials is not None or not link:
        return _from_api_token(session, credentials)
    return _from_link(session, link)


def case_opener(principal: Principal = Depends(staff_principal)) -> Principal:
    if principal.staff_role not in (StaffRole.ASSOCIATION_STAFF, StaffRole.ADMIN):
        raise _forbidden(m.ROLE_NOT_ALLOWED.format(role=principal.actor.role.label,
                                                   action=OPEN_TITLE))
    return principal


def _case_for(session: Session, number: str, principal: Principal) -> Case:
    """The case, if it exists and a link caller's link is for it (and, for a reviewer, the
    case is assigned to them)."""
    try:
        case = find_case(session=session, ref=number)
    except CaseNotFound as err:
        raise HTTPException(status_code=404, detail=m.CASE_NOT_FOUND.format(case=number)) from err
    if principal.case_id is not None and principal.case_id != case.id:
        raise _forbidden(LINK_OTHER_CASE)
    if principal.actor.role is Role.REVIEWER and principal.actor.reviewer_id != case.reviewer_id:
        raise _forbidden(m.WRONG_REVIEWER)
    return case


def _deciding_actor(kind: type[Decision]) -> Any:
    """Dependency: the caller as an Actor, if its role may give `kind` on this case. Runs before
    the body is validated, so a caller without the right gets 403, not a list of field errors."""

    def check(number: str, principal: Principal = Depends(any_principal),
              session: Session = Depends(db)) -> Actor:
        if principal.actor.role not in kind.roles:
            raise _forbidden(m.ROLE_NOT_ALLOWED.format(role=principal.actor.role.label,
                                                       action=kind.title))
        _case_for(session, number, principal)
        return principal.actor

    return check


# --- refusals ---------------------------------------------------------------------------------

REFUSALS = (InvalidInput, NotAllowed, CaseNotFound, InvalidTransition, DecisionConflict,
            RegistrationNotLapsed, Unavailable)


def _current_state(number: str | None) -> CaseState | None:
    if number is None:
        return None
    with read_session() as session:
        return find_case(session=session, ref=number).state


def _refusal(err: CaseError, number: str | None) -> JSONResponse:
    """The service's refusal as JSON: 422 per field, 403, 404, or 409 with the current state."""
    if isinstance(err, InvalidInput):
        return JSONResponse({"detail": INVALID_INPUT, "errors": err.errors}, status_code=422)
    if isinstance(err, NotAllowed):
        return JSONResponse({"detail": str(err)}, status_code=403)
    if isinstance(err, CaseNotFound):
        return JSONResponse({"detail": m.CASE_NOT_FOUND.format(case=number)}, status_code=404)
    if isinstance(err, Unavailable):
        return JSONResponse({"detail": str(err)}, status_code=503, headers={"Retry-After": "30"})
    state = err.state if isinstance(err, InvalidTransition) else _current_state(number)
    return JSONResponse({"detail": str(err), "state": state}, status_code=409)


def _outcome(outcome: Outcome) -> OutcomeOut:
    return OutcomeOut(case_id=outcome.case_id, number=outcome.number, state=outcome.state,
                      delivered=outcome.delivered, message=outcome.message)


def _field_errors(exc: RequestValidationError) -> dict[str, str]:
    """FastAPI's errors through the same Dutch wording as the service's (`dutch_errors`),
    with the 'body'/'query' part of the location left off."""
    errors = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        return {"invoer": JSON_INVALID}
    details = [
        InitErrorDetails(
            type=PydanticCustomError(error["type"], error["type"], error.get("ctx")),
            loc=tuple(error["loc"][1:]), input=error.get("input"),
        )
        for error in errors
    ]
    return dutch_errors(ValidationError.from_exception_data("invoer", details))


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    if not request.url.path.startswith("/api/"):
        return await request_validation_exception_handler(request, exc)
    return JSONResponse({"detail": INVALID_INPUT, "errors": _field_errors(exc)}, status_code=422)


def install(app: FastAPI) -> None:
    """Malformed API requests get the Dutch 422 body; the pages keep FastAPI's handling."""
    app.exception_handler(RequestValidationError)(_invalid_request)


# --- endpoints --------------------------------------------------------------------------------


@router.post("/cases", status_code=201, response_model=OutcomeOut, tags=["Aanvragen"],
             operation_id="open_case", summary=OPEN_TITLE,
             description="R5: het verzoek van de oefentherapeut. Mag: medewerker VvOCM, beheerder.",
             responses={**REFUSED, 409: ON_CASE[409]})
async def create_case(body: CaseRequest,
                      principal: Principal = Depends(case_opener)) -> OutcomeOut | JSONResponse:
    try:
        outcome = await open_case(body.model_dump(mode="json"), actor=principal.actor)
    except REFUSALS as err:
        return _refusal(err, None)
    return _outcome(outcome)


@router.get("/cases", response_model=CasePage, tags=["Aanvragen"], operation_id="list_cases",
            summary="Aanvragen zoeken", responses=REFUSED)
def list_cases(
    state: CaseState | None = Query(None, description="Alleen aanvragen in deze status"),
    specialisation: str | None = Query(None, max_length=10, description="KOT, BOT, PSOT of GOT"),
    q: str | None = Query(None, max_length=200,
                          description="Zoek op aanvraagnummer, naam of KP-nummer"),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
    _: Principal = Depends(staff_principal),
    session: Session = Depends(db),
) -> CasePage:
    rows, total = find_cases(session, CaseQuery(
        state=state, specialisation=(specialisation or "").strip().upper(),
        search=(q or "").strip(), open_only=False, by_due=False, offset=offset, limit=limit))
    return CasePage(items=[CaseItem(**_item(case, practitioner)) for case, practitioner in rows],
                    total=total, limit=limit, offset=offset)


@router.get("/cases/{number}", response_model=CaseDetail | StatusView, tags=["Aanvragen"],
            operation_id="read_case", summary=READ_TITLE,
            description="Mag: medewerkers, en de oefentherapeut met de link van de eigen aanvraag.",
            responses={k: v for k, v in ON_CASE.items() if k not in (409, 422)})
def read_case(number: str = CASE_NUMBER, principal: Principal = Depends(any_principal),
              session: Session = Depends(db)) -> CaseDetail | StatusView:
    """Staff get the full case; a practitioner's link gets exactly the status page's view."""
    if principal.actor.role is Role.REVIEWER:
        raise _forbidden(m.ROLE_NOT_ALLOWED.format(role=principal.actor.role.label,
                                                   action=READ_TITLE))
    case = _case_for(session, number, principal)
    if principal.actor.role is Role.PRACTITIONER:
        return status_view(session, case)
    return _detail(session, case)


@router.post("/cases/{number}/restart", status_code=202, response_model=OutcomeOut,
             tags=["Besluiten"], operation_id="restart_case", summary=RESTART_TITLE,
             description="Een vastgelopen aanvraag opnieuw starten. Mag: medewerker KP, "
             "beheerder.", responses={**ON_CASE, 503: {"model": Problem}})
async def restart(number: str = CASE_NUMBER,
                  principal: Principal = Depends(staff_principal)) -> OutcomeOut | JSONResponse:
    try:
        outcome = await restart_case(number, actor=principal.actor)
    except REFUSALS as err:
        return _refusal(err, number)
    return _outcome(outcome)


def _add_decision_route(kind: type[Decision]) -> None:
    """POST /cases/{number}/{action}, with `kind` as its documented request body."""

    allowed = Depends(_deciding_actor(kind))

    async def decide(body: Decision, number: str = CASE_NUMBER,
                     pause_key: str | None = PAUSE_KEY,
                     actor: Actor = allowed) -> OutcomeOut | JSONResponse:
        try:
            outcome = await act(number, kind.action, body.model_dump(mode="json"), actor=actor,
                                pause_key=pause_key)
        except REFUSALS as err:
            return _refusal(err, number)
        return _outcome(outcome)

    decide.__annotations__["body"] = kind  # FastAPI reads the body model from the signature
    roles = ", ".join(sorted(role.label for role in kind.roles))
    router.add_api_route(
        f"/cases/{{number}}/{kind.action}", decide, methods=["POST"], status_code=202,
        response_model=OutcomeOut, tags=["Besluiten"], operation_id=f"decide_{kind.action}",
        summary=kind.title, description=f"Mag: {roles}. Het besluit wordt vastgelegd en daarna "
        "door de workflow verwerkt.", responses=ON_CASE,
    )


for _kind in DECISIONS.values():
    _add_decision_route(_kind)


# --- representations --------------------------------------------------------------------------


def _item(case: Case, practitioner: Practitioner) -> dict[str, Any]:
    awaited = DECISIONS.get(case.awaiting_action or "")
    return {
        "number": case.number, "state": case.state, "state_label": case.state.label,
        "specialisation": case.specialisation, "request_date": case.request_date,
        "awaiting_action": case.awaiting_action,
        "awaiting_title": awaited.title if awaited else None, "pause_key": case.awaiting_key,
        "due_on": case.due_on,
        "practitioner_name": practitioner.name, "kp_number": practitioner.kp_number,
    }


def _detail(session: Session, case: Case) -> CaseDetail:
    case_id = case.id or 0
    practitioner = session.get(Practitioner, case.practitioner_id)
    assert practitioner is not None
    events = history(session=session, case_id=case_id)
    mails = {mail.key: mail for mail in case_mails(session=session, case_id=case_id)}
    verdict = case_verdict(case)
    certificate = get_certificate(session=session, case_id=case_id)
    progress = case_progress(session, case)
    return CaseDetail(
        **_item(case, practitioner),
        specialisation_name=case_policy(case).name, closed=case.state.is_closed,
        reopened_on=case.reopened_on, submitted_on=case.submitted_on,
        review_round=case.review_round, progress=progress.phase,
        progress_message=progress.staff_text,
        practitioner=PractitionerPublic.model_validate(practitioner, from_attributes=True),
        verdict=VerdictOut(
            sufficient=verdict.sufficient, window_start=verdict.window[0],
            window_end=verdict.window[1], points_total=verdict.points_total,
            points_by_category=verdict.points_by_category, hours_total=verdict.hours_total,
            months_with_hours=verdict.months_with_hours, bot_days_held=verdict.bot_days_held,
            bot_days_attended=verdict.bot_days_attended,
            bot_days_required=verdict.bot_days_required,
            shortfalls=[shortfall.message for shortfall in verdict.shortfalls],
            notes=verdict.notes,
        ),
        history=[
            EventOut(
                at=event.at, kind=event.kind, actor_role=event.actor_role,
                actor_role_label=event.actor_role.label, actor_name=event.actor_name,
                action=event.action,
                action_title=kind.title if (kind := DECISIONS.get(event.action)) else None,
                input=event.input, from_state=event.from_state, to_state=event.to_state,
                mails=[MailOut(key=mail.key, template=mail.template, recipient=mail.recipient,
                               subject=mail.subject, status=mail.status, sent_at=mail.sent_at)
                       for key in event.mails if (mail := mails.get(key)) is not None],
            )
            for event in events
        ],
        invoices=[InvoicePublic.model_validate(i, from_attributes=True)
                  for i in case_invoices(session=session, case_id=case_id)],
        reviews=[ReviewPublic.model_validate({**r.model_dump(), "reviewer_name": _reviewer_name(
            session, r.reviewer_id)}) for r in case_reviews(session=session, case_id=case_id)],
        certificate=CertificatePublic.model_validate(certificate, from_attributes=True)
        if certificate else None,
    )


def _reviewer_name(session: Session, reviewer_id: int) -> str:
    reviewer = session.get(Reviewer, reviewer_id)
    return reviewer.name if reviewer else ""
