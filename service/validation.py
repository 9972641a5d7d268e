"""Pydantic's field errors, said in Dutch (messages from `domain.messages`)."""

from __future__ import annotations

from pydantic import ValidationError

from domain import messages as m


def dutch_errors(error: ValidationError) -> dict[str, str]:
    """One message per field; the first error of a field wins."""
    result: dict[str, str] = {}
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "invoer"
        kind = item["type"]
        if kind == "missing":
            text = m.FIELD_REQUIRED
        elif kind.startswith(("date_", "datetime_")):
            text = m.FIELD_DATE
        elif kind.startswith("bool"):
            text = m.FIELD_BOOL
        elif kind == "literal_error":
            text = m.FIELD_CHOICE.format(choices=item.get("ctx", {}).get("expected", ""))
        elif kind == "extra_forbidden":
            text = m.FIELD_UNKNOWN
        elif kind == "string_pattern_mismatch":
            text = m.FIELD_EMAIL
        elif kind == "string_too_short":
            text = m.FIELD_TEXT_REQUIRED
        elif kind.startswith(("int_", "decimal_", "float_")):
            text = m.FIELD_NUMBER
        else:
            text = m.FIELD_INVALID
        result.setdefault(field, text)
    return result
