"""Opening a case from a request that came in by e-mail (R5): VvOCM staff type the
practitioner's details and the portfolio overview as a form, row by row (web/evidence_form.py);
no JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition, RegistrationNotLapsed
from policies import specialisations
from service.accounts import StaffRole, StaffUser
from service.actions import open_case
from web.evidence_form import (
    CATEGORIES,
    Origin,
    Rows,
    empty_rows,
    evidence_from,
    place_errors,
    posted_rows,
)
from web.forms import form_values
from web.security import actor_for, require_csrf, roles_allowed
from web.templating import templates

router = APIRouter(include_in_schema=False)
OPENERS = roles_allowed(StaffRole.ASSOCIATION_STAFF, StaffRole.ADMIN)

PERSON_FIELDS = ("kp_number", "name", "email", "member", "specialisation", "request_date",
                 "previous_period_start")
NOT_RECORDED = "De aanvraag is niet geregistreerd. Verbeter de gemarkeerde velden."


def _request(form: dict[str, str], rows: Rows) -> tuple[dict[str, Any], Origin]:
    """The service's input, and per part which form row each submitted item came from."""
    evidence, origin = evidence_from(rows)
    data: dict[str, Any] = {name: form.get(name, "").strip() for name in PERSON_FIELDS}
    data["member"] = form.get("member") == "ja" if form.get("member") else ""
    if not data["previous_period_start"]:
        data.pop("previous_period_start")
    data["evidence"] = evidence
    return data, origin


def _page(request: Request, user: StaffUser, form: dict[str, str], rows: Rows,
          errors: dict[str, str] | None = None, notice: str | None = None,
          status: int = 200) -> Response:
    return templates().TemplateResponse(request, "new_case.html", {
        "user": user, "form": form, "rows": rows, "errors": errors or {}, "notice": notice,
        "specialisations": specialisations(), "categories": CATEGORIES,
    }, status_code=status)


@router.get("/zaken/nieuw", response_class=HTMLResponse)
def new_case_form(request: Request, user: StaffUser = OPENERS) -> Response:
    return _page(request, user, {}, empty_rows())


@router.post("/zaken/nieuw", dependencies=[OPENERS, Depends(require_csrf)])
async def register_case(request: Request, user: StaffUser = OPENERS) -> Response:
    form = form_values(await request.form())
    rows, more = posted_rows(form)
    if more:
        return _page(request, user, form, rows)
    data, origin = _request(form, rows)
    try:
        outcome = await open_case(data, actor=actor_for(user))
    except InvalidInput as err:
        errors = place_errors(err.errors, rows, origin)
        return _page(request, user, form, rows, errors, NOT_RECORDED, 422)
    except (InvalidTransition, RegistrationNotLapsed) as err:
        return _page(request, user, form, rows, notice=str(err), status=409)
    request.session["flash"] = m.CASE_OPENED.format(number=outcome.number)
    return RedirectResponse(f"/zaken/{quote(outcome.number)}", status_code=303)
