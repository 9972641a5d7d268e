"""The API's request and response bodies, and the refusals each endpoint documents."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import Path, Query
from pydantic import BaseModel, Field

from domain.states import CaseState, Role
from models.certificate import CertificatePublic
from models.invoice import InvoicePublic
from models.practitioner import PractitionerPublic
from models.review import ReviewPublic
from service.read_model import (
    Phase,
)

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


