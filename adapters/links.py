"""Signed links for people without an account (DESIGN.md, "Who uses it").

A token is bound to one case and one role (and for reviewers to one review round), and
expires; itsdangerous signs it with the configured secret.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote, urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from domain.errors import LinkExpired, LinkInvalid
from domain.messages import LINK_EXPIRED, LINK_INVALID
from settings import get_settings

Purpose = Literal["status", "dossier", "request", "payment"]


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().link_secret, salt=f"herreg-{purpose}")


def _max_age(purpose: Purpose) -> int:
    links = get_settings().links
    if purpose == "request":
        return 3600 * links.request_hours
    return 86400 * (links.status_days if purpose in ("status", "payment")
                    else links.dossier_days)


def make_token(purpose: Purpose, **claims: Any) -> str:
    return _serializer(purpose).dumps(claims)


def read_token(purpose: Purpose, token: str, *, case_id: int | None = None) -> dict[str, Any]:
    """The claims, or LinkExpired / LinkInvalid (also when meant for another case)."""
    try:
        claims: dict[str, Any] = _serializer(purpose).loads(token, max_age=_max_age(purpose))
    except SignatureExpired as err:
        raise LinkExpired(LINK_EXPIRED) from err
    except BadSignature as err:
        raise LinkInvalid(LINK_INVALID) from err
    if case_id is not None and claims.get("case") != case_id:
        raise LinkInvalid(LINK_INVALID)
    return claims


def claims_however_old(purpose: Purpose, token: str) -> dict[str, Any] | None:
    """The claims of a token signed by us for this purpose, however old (an expired link
    still gets its own page, and a fresh link); None if forged or tampered."""
    try:
        claims: dict[str, Any] = _serializer(purpose).loads(token)
    except BadSignature:
        return None
    return claims


def is_genuine(purpose: Purpose, token: str) -> bool:
    """Signed by us for this purpose, however old."""
    return claims_however_old(purpose, token) is not None


def status_url(case_id: int) -> str:
    token = make_token("status", case=case_id, role="practitioner")
    return f"{get_settings().links.base_url}/status/{token}"


def start_url(kp_number: str, specialisation: str) -> str:
    """The public page where a practitioner asks to re-register, filled in (no secret in it)."""
    query = urlencode({"kp": kp_number, "specialisatie": specialisation})
    return f"{get_settings().links.base_url}/aanvragen?{query}"


def request_url(kp_number: str, specialisation: str, email: str) -> str:
    """The link that confirms a practitioner's address and opens the upload form (the way in)."""
    token = make_token("request", kp=kp_number, specialisation=specialisation, email=email)
    return f"{get_settings().links.base_url}/aanvragen/{token}"


def payment_url(invoice_id: int) -> str | None:
    """The link in an invoice mail that starts an online payment, when one is configured."""
    if not get_settings().payment.mollie_api_key:
        return None
    token = make_token("payment", invoice=invoice_id)
    return f"{get_settings().links.base_url}/betalen/{token}"


def staff_case_url(number: str) -> str:
    """The staff case page (behind login, so no token)."""
    return f"{get_settings().links.base_url}/zaken/{quote(number)}"


def dossier_url(case_id: int, reviewer_id: int, round: int) -> str:
    token = make_token("dossier", case=case_id, role="reviewer", reviewer=reviewer_id, round=round)
    return f"{get_settings().links.base_url}/beoordeling/{token}"
