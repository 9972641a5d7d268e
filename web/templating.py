"""Jinja2 pages (Dutch, autoescaped), with the same date and euro filters as the mails."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi.templating import Jinja2Templates

from domain.formatting import format_date, format_euro, format_iban, format_moment
from domain.messages import FILE_HAS_FORMULAS
from domain.states import ROLE_LABELS, STATE_LABELS
from web.security import csrf_token

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def templates() -> Jinja2Templates:
    pages = Jinja2Templates(directory=str(TEMPLATES))
    pages.env.filters["datum"] = format_date
    pages.env.filters["euro"] = format_euro
    pages.env.filters["iban"] = format_iban
    pages.env.globals["csrf_token"] = csrf_token
    pages.env.globals["moment"] = format_moment
    pages.env.globals["STATE_LABELS"] = STATE_LABELS
    pages.env.globals["ROLE_LABELS"] = ROLE_LABELS
    pages.env.globals["formula_warning"] = FILE_HAS_FORMULAS
    return pages
