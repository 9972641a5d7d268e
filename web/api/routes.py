"""The JSON API (/api/v1): open, list and read cases, and one endpoint per decision.

Every change goes through `service.actions`, exactly as the pages do. Staff authenticate with
an API token; reviewers and practitioners with the signed token from their mail link, which
is good for its own case only. Refusals are Dutch; bad input is a 422 naming each field and
records nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from domain import messages as m
from domain.decisions import Decision
from domain.procedure import DECISIONS
from domain.states import CaseState, Role
from service.access_log import Looked, record_look
from service.actions import CaseRequest, act, open_case, restart_case
from service.actors import Actor
from service.case_search import CaseQuery, find_cases
from service.case_view import CaseDetail, CaseItem, case_detail, case_item
from service.status_view import StatusView, status_view
from web.api.errors import REFUSALS, outcome_out, refusal
from web.api.principals import (
    Principal,
    any_principal,
    case_for,
    case_opener,
    deciding_actor,
    forbidden,
    staff_principal,
)
from web.api.schemas import (
    CASE_NUMBER,
    ON_CASE,
    OPEN_TITLE,
    PAUSE_KEY,
    READ_TITLE,
    REFUSED,
    RESTART_TITLE,
    CasePage,
    OutcomeOut,
    Problem,
)
from web.deps import db
from web.security import client_of

router = APIRouter(prefix="/api/v1")
Body = TypeVar("Body", bound=BaseModel)
# Models read by hand from a request's body, for the OpenAPI document (`body_schemas`).
BODIES: list[type[BaseModel]] = []


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """The route's documented JSON body. FastAPI reads a declared body before it checks any
    dependency; these routes read theirs themselves (`read_body`), after the login and role,
    so the document names the model by hand."""
    BODIES.append(model)
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


async def read_body(request: Request, model: type[Body]) -> Body:
    """The JSON body as `model`, read only now; bad input is the same Dutch 422 as FastAPI's
    own validation gives."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as err:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in err.errors()]) from None


def body_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the schemas of the bodies read by hand (and their parts)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in BODIES:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return document


@router.post("/cases", status_code=201, response_model=OutcomeOut, tags=["Aanvragen"],
             operation_id="open_case", summary=OPEN_TITLE,
             description="R5: het verzoek van de oefentherapeut. Mag: medewerker VvOCM, beheerder.",
             responses={**REFUSED, 409: ON_CASE[409]},
             openapi_extra=documented_body(CaseRequest))
async def create_case(request: Request,
                      principal: Principal = Depends(case_opener)) -> OutcomeOut | JSONResponse:
    body = await read_body(request, CaseRequest)
    try:
        outcome = await open_case(body.model_dump(mode="json"), actor=principal.actor)
    except REFUSALS as err:
        return refusal(err, None)
    return outcome_out(outcome)


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
    return CasePage(items=[CaseItem(**case_item(case, practitioner))
                           for case, practitioner in rows],
                    total=total, limit=limit, offset=offset)


@router.get("/cases/{number}", response_model=CaseDetail | StatusView, tags=["Aanvragen"],
            operation_id="read_case", summary=READ_TITLE,
            description="Mag: medewerkers, en de oefentherapeut met de link van de eigen aanvraag.",
            responses={k: v for k, v in ON_CASE.items() if k not in (409, 422)})
def read_case(request: Request, number: str = CASE_NUMBER,
              principal: Principal = Depends(any_principal),
              session: Session = Depends(db)) -> CaseDetail | StatusView:
    """Staff get the full case; a practitioner's link gets exactly the status page's view."""
    if principal.actor.role is Role.REVIEWER:
        raise forbidden(m.ROLE_NOT_ALLOWED.format(role=principal.actor.role.label,
                                                   action=READ_TITLE))
    case = case_for(session, number, principal)
    if principal.actor.role is Role.PRACTITIONER:
        return status_view(session, case)  # their own case: no look at someone else's data
    record_look(case, Looked.API_CASE, actor=principal.actor, client=client_of(request))
    return case_detail(session, case)


@router.post("/cases/{number}/restart", status_code=202, response_model=OutcomeOut,
             tags=["Besluiten"], operation_id="restart_case", summary=RESTART_TITLE,
             description="Een vastgelopen aanvraag opnieuw starten. Mag: medewerker KP, "
             "beheerder.", responses={**ON_CASE, 503: {"model": Problem}})
async def restart(number: str = CASE_NUMBER,
                  principal: Principal = Depends(staff_principal)) -> OutcomeOut | JSONResponse:
    try:
        outcome = await restart_case(number, actor=principal.actor)
    except REFUSALS as err:
        return refusal(err, number)
    return outcome_out(outcome)


def _add_decision_route(kind: type[Decision]) -> None:
    """POST /cases/{number}/{action}, with `kind` as its documented request body."""

    allowed = Depends(deciding_actor(kind))

    async def decide(request: Request, number: str = CASE_NUMBER,
                     pause_key: str | None = PAUSE_KEY,
                     actor: Actor = allowed) -> OutcomeOut | JSONResponse:
        body = await read_body(request, kind)
        try:
            outcome = await act(number, kind.action, body.model_dump(mode="json"), actor=actor,
                                pause_key=pause_key)
        except REFUSALS as err:
            return refusal(err, number)
        return outcome_out(outcome)

    roles = ", ".join(sorted(role.label for role in kind.roles))
    router.add_api_route(
        f"/cases/{{number}}/{kind.action}", decide, methods=["POST"], status_code=202,
        response_model=OutcomeOut, tags=["Besluiten"], operation_id=f"decide_{kind.action}",
        summary=kind.title, description=f"Mag: {roles}. Het besluit wordt vastgelegd en daarna "
        "door de workflow verwerkt.", responses=ON_CASE, openapi_extra=documented_body(kind),
    )


for _kind in DECISIONS.values():
    _add_decision_route(_kind)
