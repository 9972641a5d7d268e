"""Refusals as JSON: the service's errors and FastAPI's validation errors, in Dutch."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from domain import messages as m
from domain.errors import (
    CaseError,
    CaseNotFound,
    DecisionConflict,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    RegistrationNotLapsed,
    Unavailable,
)
from service.actions import Outcome
from service.read_model import current_state
from service.validation import dutch_errors
from web.api.schemas import OutcomeOut

INVALID_INPUT = "Ongeldige invoer"
JSON_INVALID = "De invoer is geen geldige JSON."


REFUSALS = (InvalidInput, NotAllowed, CaseNotFound, InvalidTransition, DecisionConflict,
            RegistrationNotLapsed, Unavailable)


def refusal(err: CaseError, number: str | None) -> JSONResponse:
    """The service's refusal as JSON: 422 per field, 403, 404, or 409 with the current state."""
    if isinstance(err, InvalidInput):
        return JSONResponse({"detail": INVALID_INPUT, "errors": err.errors}, status_code=422)
    if isinstance(err, NotAllowed):
        return JSONResponse({"detail": str(err)}, status_code=403)
    if isinstance(err, CaseNotFound):
        return JSONResponse({"detail": m.CASE_NOT_FOUND.format(case=number)}, status_code=404)
    if isinstance(err, Unavailable):
        return JSONResponse({"detail": str(err)}, status_code=503, headers={"Retry-After": "30"})
    state = err.state if isinstance(err, InvalidTransition) \
        else current_state(number) if number else None
    return JSONResponse({"detail": str(err), "state": state}, status_code=409)


def outcome_out(outcome: Outcome) -> OutcomeOut:
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


async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    """Malformed API requests get the Dutch 422 body (the app's handler sends them here)."""
    return JSONResponse({"detail": INVALID_INPUT, "errors": _field_errors(exc)}, status_code=422)


