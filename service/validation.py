"""Input as every door checks it: the shape of a KP number, a typed input parsed with its
errors said in Dutch (messages from `domain.messages`), and text compared as people mean it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from domain import messages as m
from domain.errors import InvalidInput

KP_NUMBER = r"^[0-9]{5,9}$"


def _message(field: str, kind: str, ctx: dict[str, Any]) -> str:
    if kind == "missing":
        return m.FIELD_REQUIRED
    if kind.startswith(("date_", "datetime_")):
        return m.FIELD_DATE
    if kind.startswith("bool"):
        return m.FIELD_BOOL
    if kind == "literal_error":
        return m.FIELD_CHOICE.format(choices=ctx.get("expected", ""))
    if kind == "extra_forbidden":
        return m.FIELD_UNKNOWN
    if field.endswith("email"):
        return m.FIELD_EMAIL
    if field.endswith("kp_number") and kind == "string_pattern_mismatch":
        return m.FIELD_KP_NUMBER
    if kind == "string_too_short":
        shortest = ctx.get("min_length", 1)
        return m.FIELD_TEXT_REQUIRED if shortest == 1 else m.FIELD_TOO_SHORT.format(min=shortest)
    if kind == "string_too_long":
        return m.FIELD_TOO_LONG.format(max=ctx.get("max_length", ""))
    if kind in ("less_than_equal", "less_than"):
        return m.FIELD_TOO_LARGE.format(max=ctx.get("le", ctx.get("lt", "")))
    if kind in ("greater_than", "greater_than_equal"):
        return m.FIELD_TOO_SMALL.format(min=ctx.get("gt", ctx.get("ge", "")))
    if kind == "decimal_max_places":
        return m.FIELD_DECIMALS.format(places=ctx.get("decimal_places", ""))
    if kind.startswith(("int_", "decimal_", "float_", "finite_")):
        return m.FIELD_NUMBER
    return m.FIELD_INVALID


def dutch_errors(error: ValidationError) -> dict[str, str]:
    """One message per field; the first error of a field wins."""
    result: dict[str, str] = {}
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "invoer"
        result.setdefault(field, _message(field, item["type"], dict(item.get("ctx") or {})))
    return result


def parse_input(kind: type[BaseModel], data: dict[str, Any]) -> Any:
    """The typed input, or InvalidInput with a Dutch message per field."""
    try:
        return kind.model_validate(data)
    except ValidationError as err:
        raise InvalidInput(dutch_errors(err)) from err


def same_text(a: str, b: str) -> bool:
    """Equal for a person: case and spacing aside."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
