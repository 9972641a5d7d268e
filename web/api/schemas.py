"""The API's request and response bodies, and the refusals each endpoint documents."""

from __future__ import annotations

from typing import Any

from fastapi import Path, Query
from pydantic import BaseModel, Field

from domain.states import CaseState
from service.case_view import CaseItem

RESTART_TITLE = "Aanvraag herstarten"
OPEN_TITLE = "Aanvraag registreren"
READ_TITLE = "Aanvraag inzien"


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


class CasePage(BaseModel):
    items: list[CaseItem]
    total: int
    limit: int
    offset: int


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


