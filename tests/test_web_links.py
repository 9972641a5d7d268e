"""The pages behind the mailed links (reviewer and practitioner, no account) and the public
register, on the offline database with the step plan replayed between actions; every link is
taken from a mail the SMTP server received."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from adapters.links import make_token
from domain import messages as m
from domain.formatting import format_date, format_iban
from models.db import session_scope
from models.invoice import case_invoices
from models.practitioner import Practitioner
from service.actions import act, open_case
from service.progress import PUBLIC_RECEIVED
from settings import get_settings
from tests.conftest import ASSOCIATION, REGISTER, TODAY, Mailbox, case_row, csrf_from, wait_until
from tests.factories import request
from tests.replay import close, run_case
from web.routes.practitioner import (
    FRESH_LINK_RECENT,
    FRESH_LINK_SENT,
    RECEIVED_THANKS,
    STATUS_LINK_EXPIRED,
)
from web.routes.reviewer import REVIEWER_LINK_EXPIRED
from web.routes.signed_links import mask_email


async def link_from_mail(mailbox: Mailbox, case_id: int, template: str, kind: str) -> str:
    """The path of the `kind` link ("status" or "beoordeling") in the mail's text part."""
    base = re.escape(get_settings().links.base_url)

    def find() -> str | None:
        for message in mailbox.for_case(case_id):
            if str(message["X-Herregistratie-Key"]).split(":")[2] != template:
                continue
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(rf"{base}(/{kind}/[\w.-]+)", body.get_content())
            if found:
                return found.group(1)
        return None

    return str(await wait_until(find, 10, f"{template} mail with a {kind} link"))


def practitioner_of(case: Any) -> Practitioner:
    with session_scope() as session:
        found = session.get(Practitioner, case.practitioner_id)
        assert found is not None
        return found


def tampered(path: str) -> str:
    prefix, token = path.rsplit("/", 1)
    return f"{prefix}/{('B' if token[0] != 'B' else 'C')}{token[1:]}"


class PastSigner(TimestampSigner):
    """Signs as if the link were mailed 200 days ago (links live 60 or 120 days)."""

    def get_timestamp(self) -> int:
        return int(time.time()) - 200 * 86400


@pytest.fixture
async def lapsed_case(offline: str) -> Any:
    """A case that stays at the association's check: its registration is lapsed (R4)."""
    opened = await open_case(request(TODAY - timedelta(days=20)), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    return case_row(opened.case_id)


async def test_practitioner_submits_and_reviewer_certifies_through_mailed_links(
    offline_client: Any, mailbox: Mailbox, lapsed_case: Any,
) -> None:
    client = offline_client
    opened = await open_case(request(TODAY - timedelta(days=30)), actor=ASSOCIATION)
    case_id, ref = opened.case_id, opened.number
    practitioner = practitioner_of(case_row(case_id))
    assert await run_case(case_id) == "association-decision"
    status = await link_from_mail(mailbox, case_id, "request_received", "status")
    await act(ref, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION)
    assert await run_case(case_id) == "portfolio-reopened"
    await act(ref, "portfolio_reopened", {"reopened_on": str(TODAY - timedelta(days=10))},
              actor=REGISTER)
    assert await run_case(case_id) == "submission"

    page = client.get(status)
    assert page.status_code == 200
    assert "Wacht op indienen dossier" in page.text and "U dient uw dossier in" in page.text
    assert practitioner.email not in page.text
    action = f"{status}/acties/submit"
    bad = client.post(action, data={"submitted_on": "2026-02-31",
                                    "csrf_token": csrf_from(page.text)})
    assert bad.status_code == 422
    assert m.FIELD_DATE in bad.text and 'value="2026-02-31"' in bad.text
    sent = client.post(action, data={"submitted_on": str(TODAY - timedelta(days=3)),
                                     "csrf_token": csrf_from(page.text)},
                       follow_redirects=False)
    assert sent.status_code == 303
    received = client.get(sent.headers["location"]).text
    assert PUBLIC_RECEIVED in received and 'action="' + action not in received
    assert RECEIVED_THANKS["submit"] in received and "Besluit" not in received
    assert await run_case(case_id) == "payment"
    with session_scope() as session:
        invoice = case_invoices(session=session, case_id=case_id)[0]
    page = client.get(status)
    assert "Wacht op betaling" in page.text and invoice.number in page.text
    assert "€" in page.text and 'action="' + action not in page.text
    payment = get_settings().payment
    assert payment.register_account in page.text and format_iban(payment.register_iban) \
        in page.text and format_date(case_row(case_id).due_on) in page.text

    await act(ref, "payment_received", {"paid_on": str(TODAY)}, actor=REGISTER)
    assert await run_case(case_id) == "completeness-1"
    await act(ref, "completeness", {"complete": True}, actor=REGISTER)
    assert await run_case(case_id) == "assignment"
    await act(ref, "assign_reviewer", {"reviewer_name": "Dr. L. Link",
                                       "reviewer_email": "link-reviewer@example.org"},
              actor=REGISTER)
    assert await run_case(case_id) == "findings-1"
    dossier = await link_from_mail(mailbox, case_id, "review_assigned", "beoordeling")

    assert client.get(tampered(dossier)).status_code == 403
    reviewer_id = case_row(case_id).reviewer_id
    for other in (make_token("dossier", case=case_id, role="reviewer",
                             reviewer=reviewer_id + 1000, round=1),
                  make_token("dossier", case=lapsed_case.id, role="reviewer",
                             reviewer=reviewer_id, round=1)):
        refused = client.get(f"/beoordeling/{other}")
        assert refused.status_code == 403 and m.LINK_INVALID in refused.text

    old = URLSafeTimedSerializer(get_settings().link_secret, salt="herreg-dossier",
                                 signer=PastSigner).dumps(
        {"case": case_id, "role": "reviewer", "reviewer": reviewer_id, "round": 1})
    expired = client.get(f"/beoordeling/{old}")
    assert expired.status_code == 410 and REVIEWER_LINK_EXPIRED in expired.text

    page = client.get(dossier)
    assert page.status_code == 200
    assert practitioner.name in page.text and "Kinderoefentherapie" in page.text
    assert "Activiteit 1" in page.text and "Bevindingen versturen" in page.text
    assert "verplicht bij een aanvulling of een negatief oordeel" in page.text
    assert 'maxlength="4000"' in page.text and "Ten hoogste 4000 tekens." in page.text
    incomplete = client.post(dossier, data={"outcome": "additions", "explanation": "",
                                            "csrf_token": csrf_from(page.text)})
    assert incomplete.status_code == 422 and m.EXPLANATION_REQUIRED in incomplete.text
    assert re.search(r'value="additions"\s+checked', incomplete.text)
    done = client.post(dossier, data={"outcome": "positive", "explanation": "Prima dossier.",
                                      "csrf_token": csrf_from(page.text)})
    assert done.status_code == 200 and "Uw bevindingen voor ronde 1" in done.text
    assert "Prima dossier." in done.text and "Bevindingen versturen" not in done.text
    assert PUBLIC_RECEIVED in done.text and 'http-equiv="refresh"' in done.text
    again = client.post(dossier, data={"outcome": "negative", "explanation": "Toch niet.",
                                       "csrf_token": csrf_from(page.text)})
    assert again.status_code == 409 and m.ALREADY_DECIDED in again.text
    assert await run_case(case_id) == "certified"
    later = client.get(dossier)
    assert "Prima dossier." in later.text and "Bevindingen versturen" not in later.text
    assert "Verwerkt: de aanvraag staat nu op “Geherregistreerd”" in later.text
    assert 'http-equiv="refresh"' not in later.text

    page = client.get(status)
    assert "Geherregistreerd" in page.text and "Nieuwe registratieperiode" in page.text
    assert "Aanvraag intrekken" not in page.text

    certified, lapsed = practitioner, practitioner_of(lapsed_case)
    register = client.get("/register")
    assert certified.name in register.text and certified.kp_number in register.text
    assert lapsed.name not in register.text
    found = client.get("/register", params={"kp": certified.kp_number, "specialisatie": "KOT"})
    assert certified.name in found.text and "1 registratie gevonden" in found.text
    assert lapsed.name not in client.get("/register", params={"kp": lapsed.kp_number}).text
    for page_text in (register.text, found.text):
        assert certified.email not in page_text and "@example.org" not in page_text


async def test_expired_status_link_offers_one_fresh_link_per_hour(
    offline_client: Any, mailbox: Mailbox, lapsed_case: Any,
) -> None:
    client = offline_client
    email = practitioner_of(lapsed_case).email
    old = URLSafeTimedSerializer(get_settings().link_secret, salt="herreg-status",
                                 signer=PastSigner).dumps({"case": lapsed_case.id,
                                                           "role": "practitioner"})
    expired = client.get(f"/status/{old}")
    assert expired.status_code == 410 and STATUS_LINK_EXPIRED in expired.text
    assert mask_email(email) in expired.text and email not in expired.text
    csrf = csrf_from(expired.text)
    forged = client.post("/status/nieuwe-link", data={"token": tampered(f"/{old}")[1:],
                                                      "csrf_token": csrf})
    assert forged.status_code == 403

    first = client.post("/status/nieuwe-link", data={"token": old, "csrf_token": csrf})
    assert first.status_code == 200
    assert FRESH_LINK_SENT.format(email=mask_email(email)) in first.text
    assert email not in first.text
    fresh = await link_from_mail(mailbox, lapsed_case.id, "fresh_link", "status")
    assert lapsed_case.number in client.get(fresh).text

    second = client.post("/status/nieuwe-link", data={"token": old, "csrf_token": csrf})
    assert FRESH_LINK_RECENT.format(email=mask_email(email)) in second.text
    assert mailbox.templates(lapsed_case.id).count("fresh_link") == 1


async def test_practitioner_withdraws_with_confirmation(
    offline_client: Any, mailbox: Mailbox, lapsed_case: Any,
) -> None:
    client = offline_client
    status = await link_from_mail(mailbox, lapsed_case.id, "request_received", "status")
    page = client.get(status)
    assert "De VvOCM controleert uw punten en uren." in page.text
    assert "/acties/submit" not in page.text
    csrf = csrf_from(page.text)
    early = client.post(f"{status}/acties/submit",
                        data={"submitted_on": str(TODAY), "csrf_token": csrf})
    assert early.status_code == 409
    withdraw = f"{status}/acties/withdraw"
    unconfirmed = client.post(withdraw, data={"reason": "Ik stop ermee.", "csrf_token": csrf})
    assert unconfirmed.status_code == 422 and m.CONFIRM_WITHDRAW in unconfirmed.text
    assert "Ik stop ermee." in unconfirmed.text
    done = client.post(withdraw, data={"reason": "Ik stop ermee.", "bevestigen": "ja",
                                       "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert await close(lapsed_case.id, "withdrawn")
    page = client.get(status)
    assert "Ingetrokken" in page.text and "Aanvraag intrekken</h2>" not in page.text
    closed = client.post(withdraw, data={"bevestigen": "ja", "csrf_token": csrf})
    assert closed.status_code == 409
