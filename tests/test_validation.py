"""Field errors in Dutch, each saying what is wrong with that field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain import messages as m
from domain.decisions import AdditionsSupplied, ReviewerAssignment
from service.validation import dutch_errors


def errors_of(kind: type, data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        kind.model_validate(data)
    return dutch_errors(caught.value)


def test_a_one_letter_name_is_too_short_not_a_missing_explanation() -> None:
    found = errors_of(ReviewerAssignment, {"reviewer_name": "A",
                                           "reviewer_email": "a@example.org"})
    assert found == {"reviewer_name": m.FIELD_TOO_SHORT.format(min=2)}


def test_an_empty_required_text_asks_for_it() -> None:
    found = errors_of(AdditionsSupplied, {"supplied_on": "2026-12-01", "description": " "})
    assert found == {"description": m.FIELD_TEXT_REQUIRED}
