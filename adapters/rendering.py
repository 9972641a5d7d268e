"""Render the case mails from `templates/email/<name>/{subject.txt,body.txt,body.html}`.

Rendering is separate from sending so that the outbox can store the exact message with the
transition that caused it; a retry then delivers what was rendered, never a re-render.
Templates follow the pypi/warehouse layout: each extends `templates/email/_base/`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined, select_autoescape

from domain.formatting import (
    AMSTERDAM,
    format_date,
    format_euro,
    format_iban,
    format_moment,
    format_number,
)

__all__ = ["TEMPLATE_NAMES", "TEMPLATES_DIR", "RenderedMail", "render_mail"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
PAPERS_DIR = TEMPLATES_DIR.parent / "pdf"

# A mail is a folder of its own (subject, text and HTML); "_base" is what they extend.
TEMPLATE_NAMES: tuple[str, ...] = tuple(sorted(
    folder.name for folder in TEMPLATES_DIR.iterdir()
    if folder.is_dir() and not folder.name.startswith("_")))

_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A rendered message, immutable so the outbox stores exactly what was rendered."""

    subject: str
    text: str
    html: str














def _defined(value: object, filter_name: str) -> object:
    """Fail on an undefined value: StrictUndefined only fails when printed, not when filtered."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None:
        # babel formats None as *today*: a missing due date must not become a plausible one.
        raise TypeError(f"filter {filter_name!r} got None")
    return value


def _datum_filter(value: object) -> str:
    """Template filter `datum`: only real dates, so a wrong value fails loudly."""
    value = _defined(value, "datum")
    if not isinstance(value, date):
        raise TypeError(f"filter 'datum' expects a date, got {type(value).__name__}")
    return format_date(value)


def _euro_filter(value: object) -> str:
    """Template filter `euro`: Decimal (or int) only, since a float amount is already a bug."""
    value = _defined(value, "euro")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"filter 'euro' expects a Decimal, got {type(value).__name__}")
    return format_euro(Decimal(value))


def _getal_filter(value: object) -> str:
    """Template filter `getal`: points and hours in Dutch notation."""
    value = _defined(value, "getal")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"filter 'getal' expects a Decimal, got {type(value).__name__}")
    return format_number(value)


@functools.cache
def _environment(folder: Path = TEMPLATES_DIR) -> Environment:
    """One environment per process and folder: it caches compiled templates; built lazily,
    not on import."""
    env = Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["datum"] = _datum_filter
    env.filters["euro"] = _euro_filter
    env.filters["getal"] = _getal_filter
    env.filters["iban"] = format_iban
    env.filters["moment"] = format_moment
    env.filters["tijd"] = lambda value: f"{value.astimezone(AMSTERDAM):%H:%M}"
    return env


def render_page(template: str, context: Mapping[str, object]) -> str:
    """An HTML page from templates/pdf/ (the papers), with the mails' filters."""
    return _environment(PAPERS_DIR).get_template(template).render(dict(context))


def _tidy_text(text: str) -> str:
    """Collapse runs of blank lines left by template logic; mail clients show them verbatim."""
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip("\n") + "\n"


def render_mail(template: str, context: Mapping[str, object]) -> RenderedMail:
    """Render subject, plain text and HTML; a missing context key raises UndefinedError.

    The subject is collapsed to one line: a newline in a header would break the message.
    """
    if template not in TEMPLATE_NAMES:
        raise ValueError(f"unknown mail template: {template!r}")
    env = _environment()
    values = dict(context)
    subject = " ".join(env.get_template(f"{template}/subject.txt").render(values).split())
    values["mail_subject"] = subject
    text = _tidy_text(env.get_template(f"{template}/body.txt").render(values))
    html = env.get_template(f"{template}/body.html").render(values)
    return RenderedMail(subject=subject, text=text, html=html)
