"""The papers the register hands out, as PDF: rendered from Jinja2 HTML templates
(templates/pdf/) by WeasyPrint.

Why WeasyPrint: it lays out HTML and CSS itself (paged media: A4, page footers), so a paper is
a template like the mails, with the same Dutch filters; it is maintained (a release every few
months), embeds the fonts it uses, and needs no browser or service at run time, only Pango,
which the Makefile installs. PDF metadata carries the rendering time, so a paper is rendered
once and kept by its hash (tasks/blobs.py): the mailed file and a later download are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from settings import Issuer, get_settings
from tasks.rendering import render_page

PDF = "application/pdf"


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    content: bytes


def render_pdf(template: str, context: Mapping[str, object], issuer: Issuer) -> bytes:
    import weasyprint  # imported on first use: it loads Pango, which the web pages never need

    html = render_page(template, {"issuer": issuer, **context})
    return bytes(weasyprint.HTML(string=html).write_pdf())


def register_entry_url(kp_number: str, specialisation: str) -> str:
    """The public register, showing this practitioner's registrations in the specialisation."""
    query = urlencode({"kp": kp_number, "specialisatie": specialisation})
    return f"{get_settings().links.base_url}/register?{query}"
