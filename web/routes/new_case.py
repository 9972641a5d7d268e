"""Opening a case from a request that came in by e-mail (R5): VvOCM staff type the
practitioner's details and the portfolio overview as a form, row by row; no JSON.

Without JavaScript a form cannot grow rows, so "Meer regels" posts the form back with the
typed values kept and more empty rows. Empty rows are skipped; errors are shown on the row and
field they belong to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain import messages as m
from domain.errors import InvalidInput, InvalidTransition, RegistrationNotLapsed
from models.staff import StaffRole, StaffUser
from service.actions import open_case
from web.forms import form_values
from web.routes.public import specialisations
from web.security import actor_for, require_csrf, roles_allowed
from web.templating import templates

router = APIRouter(include_in_schema=False)
OPENERS = roles_allowed(StaffRole.ASSOCIATION_STAFF, StaffRole.ADMIN)

ROWS = {"activities": 6, "work_hours": 3, "bot_days": 5}
MORE = 5
MAX_ROWS = 200
ROW_FIELDS = {"activities": ("on", "points", "category", "accredited", "title"),
              "work_hours": ("start", "end", "hours", "description"),
              "bot_days": ("on",)}
PERSON_FIELDS = ("kp_number", "name", "email", "member", "specialisation", "request_date",
                 "previous_period_start")
ERROR_KEY = re.compile(r"evidence\.(activities|work_hours|bot_days)\.(\d+)\.(\w+)")
CATEGORIES = {"course": "Cursus", "other": "Overige activiteit"}
NOT_RECORDED = "De aanvraag is niet geregistreerd. Verbeter de gemarkeerde velden."


@dataclass
class Row:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def _rows(form: dict[str, str], part: str, count: int) -> list[Row]:
    return [Row({name: form.get(f"{part}-{i}-{name}", "") for name in ROW_FIELDS[part]})
            for i in range(count)]


def _counts(form: dict[str, str]) -> dict[str, int]:
    counts = {}
    for part, default in ROWS.items():
        typed = form.get(f"{part}-rows", "")
        counts[part] = min(MAX_ROWS, int(typed)) if typed.isdigit() else default
    return counts


def _number(text: str) -> str:
    """Dutch decimal comma accepted: "1,5" points."""
    return text.strip().replace(",", ".")


def _request(form: dict[str, str], rows: dict[str, list[Row]]) -> tuple[dict[str, Any],
                                                                         dict[str, list[int]]]:
    """The service's input, and per part which form row each submitted item came from."""
    evidence: dict[str, list[dict[str, Any]]] = {part: [] for part in ROWS}
    origin: dict[str, list[int]] = {part: [] for part in ROWS}
    for part, part_rows in rows.items():
        for index, row in enumerate(part_rows):
            typed = {k: v.strip() for k, v in row.values.items() if k != "accredited"}
            if not any(typed.values()):
                continue
            item: dict[str, Any] = dict(typed)
            if part == "activities":
                item["points"] = _number(typed["points"])
                item["accredited"] = row.values.get("accredited") == "ja"
            if part == "work_hours":
                item["hours"] = _number(typed["hours"])
            evidence[part].append(item)
            origin[part].append(index)
    data: dict[str, Any] = {name: form.get(name, "").strip() for name in PERSON_FIELDS}
    data["member"] = form.get("member") == "ja" if form.get("member") else ""
    if not data["previous_period_start"]:
        data.pop("previous_period_start")
    data["evidence"] = evidence
    return data, origin


def _page(request: Request, user: StaffUser, form: dict[str, str], rows: dict[str, list[Row]],
          errors: dict[str, str] | None = None, notice: str | None = None,
          status: int = 200) -> Response:
    return templates().TemplateResponse(request, "new_case.html", {
        "user": user, "form": form, "rows": rows, "errors": errors or {}, "notice": notice,
        "specialisations": specialisations(), "categories": CATEGORIES,
    }, status_code=status)


@router.get("/zaken/nieuw", response_class=HTMLResponse)
def new_case_form(request: Request, user: StaffUser = OPENERS) -> Response:
    return _page(request, user, {}, {part: _rows({}, part, n) for part, n in ROWS.items()})


@router.post("/zaken/nieuw", dependencies=[Depends(require_csrf)])
async def register_case(request: Request, user: StaffUser = OPENERS) -> Response:
    form = form_values(await request.form())
    counts = _counts(form)
    more = form.get("meer", "")
    if more in counts:
        counts[more] = min(MAX_ROWS, counts[more] + MORE)
    rows = {part: _rows(form, part, n) for part, n in counts.items()}
    if more in counts:
        return _page(request, user, form, rows)
    data, origin = _request(form, rows)
    try:
        outcome = await open_case(data, actor=actor_for(user))
    except InvalidInput as err:
        errors = {}
        for key, message in err.errors.items():
            found = ERROR_KEY.fullmatch(key)
            if found and int(found.group(2)) < len(origin[found.group(1)]):
                row = rows[found.group(1)][origin[found.group(1)][int(found.group(2))]]
                row.errors[found.group(3)] = message
            else:
                errors[key.removeprefix("evidence.")] = message
        return _page(request, user, form, rows, errors, NOT_RECORDED, 422)
    except (InvalidTransition, RegistrationNotLapsed) as err:
        return _page(request, user, form, rows, notice=str(err), status=409)
    request.session["flash"] = m.CASE_OPENED.format(number=outcome.number)
    return RedirectResponse(f"/zaken/{quote(outcome.number)}?gelukt=1", status_code=303)
