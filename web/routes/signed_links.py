"""What the pages behind the signed links in the mails share: people without an account reach
them by a token bound to one case and role (adapters/links.py); the pages are private (no cache,
no Referer), a forged link is a 403 and an expired one gets a page of its own."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from domain import messages as m
from domain.errors import LinkExpired, LinkInvalid
from service.links import Purpose, is_genuine, read_link
from web.templating import templates

# Token in the URL: keep it out of caches and out of Referer headers.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex"}


def signed(purpose: Purpose, refusal: str = m.LINK_INVALID) -> Any:
    """Route dependency, listed before the CSRF check: a forged link is refused (403, with
    the page's own words for it) before anything of the request's body is read, as a login
    is checked first on staff pages."""
    def check(token: str) -> None:
        if not is_genuine(purpose, token):
            raise HTTPException(status_code=403, detail=refusal)

    return Depends(check)


def mask_email(address: str) -> str:
    """p***@example.org: enough to recognise one's own address, not to learn someone's."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def link_page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return templates().TemplateResponse(request, name, {"user": None, **context},
                                        status_code=status, headers=PRIVATE)


def genuine_claims(purpose: Purpose, token: str) -> dict[str, Any]:
    """Claims of a genuine link; forged or tampered is a 403. LinkExpired passes through, as
    it gets its own page."""
    try:
        return read_link(purpose, token)
    except LinkExpired:
        raise
    except LinkInvalid as err:
        raise HTTPException(status_code=403, detail=m.LINK_INVALID) from err


