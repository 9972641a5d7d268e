"""HTML forms built from the same typed inputs the flow waits for, and form data parsed back
into those inputs' shape (validation stays with the service)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal, get_args, get_origin

from annotated_types import MaxLen
from fastapi import Path
from starlette.datastructures import FormData

from domain.decisions import CHOICE_LABELS, FIELD_TITLES, Decision
from settings import get_settings

Kind = Literal["date", "bool", "choice", "text", "textarea", "email"]

LONG_TEXT = {"note", "missing", "explanation", "description", "reason"}


@dataclass
class FormField:
    name: str
    label: str
    hint: str
    kind: Kind
    required: bool
    value: str = ""
    error: str | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    max_length: int | None = None
    required_note: str = ""  # "verplicht bij ...", for a field another choice makes required


def _kind(name: str, annotation: Any) -> tuple[Kind, list[tuple[str, str]]]:
    if annotation is date:
        return "date", []
    if annotation is bool:
        return "bool", [("ja", "Ja"), ("nee", "Nee")]
    if get_origin(annotation) is Literal:
        return "choice", [(str(v), CHOICE_LABELS.get(str(v), str(v))) for v in get_args(annotation)]
    if name.endswith("email"):
        return "email", []
    return ("textarea" if name in LONG_TEXT else "text"), []


def form_fields(
    kind: type[Decision],
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[FormField]:
    """One field per input field, with what was typed and its Dutch error kept; a date not
    typed yet is today's. Forms send as they are (`novalidate`): an empty required field gets
    the Dutch message, not the browser's own bubble."""
    values, errors = values or {}, errors or {}
    fields = []
    for name, info in kind.model_fields.items():
        field_kind, choices = _kind(name, info.annotation)
        raw = values.get(name, "")
        if field_kind == "date" and not values:  # most things are recorded the day they happen
            raw = get_settings().current_date().isoformat()
        fields.append(FormField(
            name=name, label=FIELD_TITLES.get(name, name),
            hint="" if (info.description or "").startswith(FIELD_TITLES.get(name, name))
            else info.description or "",
            kind=field_kind,
            required=info.is_required(), value="" if raw is None else str(raw),
            error=errors.get(name), choices=choices,
            max_length=next((rule.max_length for rule in info.metadata
                             if isinstance(rule, MaxLen)), None),
            required_note=rule.hint if (rule := kind.required_when.get(name)) else "",
        ))
    return fields


def form_values(form: FormData) -> dict[str, str]:
    """The form's text fields as typed, without the CSRF token (checked before this)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def parse_form(kind: type[Decision], form: Mapping[str, Any]) -> dict[str, Any]:
    """Strings from the form in the input's shape; empty optional fields are left out so the
    input's defaults apply, and unknown form fields (csrf_token) are dropped."""
    data: dict[str, Any] = {}
    for name, info in kind.model_fields.items():
        raw = form.get(name)
        if not isinstance(raw, str) or (raw.strip() == "" and not info.is_required()):
            continue
        if info.annotation is bool:
            data[name] = {"ja": True, "nee": False}.get(raw, raw)
        else:
            data[name] = raw
    return data


MAX_ID = 2**31 - 1  # ids are PostgreSQL integers; a larger number names nothing
# A path id: bounded, so 20 digits are a Dutch 404, never the database's overflow (a 500).
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def small_int(text: str, *, digits: int = 9) -> int | None:
    """A number typed in a form or a query: ASCII digits only ("²" and "١٠" are digits to
    Python, not to us), at most `digits` of them; anything else is None."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= digits):
        return None
    return int(text)


def page_number(text: str, *, last: int = 100_000) -> int:
    """A page number from the query string; anything else ("²", 5,000 digits) is page 1."""
    number = small_int(text, digits=6)
    return min(max(1, number), last) if number is not None else 1
