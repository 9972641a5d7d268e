"""Staff pages on the real stack: the inbox per role, the case page, decisions through the form
(with Dutch errors, CSRF, roles, claims and conflicts) and the mails sent."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from markupsafe import escape

from domain import messages as m
from flows.inputs import AssociationDecision, PortfolioReopened
from models.case import case_verdict, get_event, history
from models.db import session_scope
from models.outbox import MailStatus, case_mails
from service.actions import Outcome, open_case
from settings import get_settings
from tasks.rendering import format_date
from tests.conftest import (
    ASSOCIATION,
    TODAY,
    awaiting,
    case_row,
    csrf_from,
    login,
    make_staff,
    settled,
    wait_until,
)
from tests.factories import request

pytestmark = pytest.mark.usefixtures("stack")
DECIDE = "association_decision"


def shown(text: str) -> str:
    """A message as the autoescaping page writes it."""
    return str(escape(text))


@contextmanager
def staff_client(user: Any) -> Iterator[Any]:
    """A second browser: its own cookie jar, logged in as `user`."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app()) as other:
        login(other, user)
        yield other


async def new_case(name: str, specialisation: str = "KOT") -> tuple[Outcome, str]:
    """A case waiting for the association's decision, and its practitioner's KP number."""
    data = request(TODAY - timedelta(days=20), specialisation=specialisation)
    data["name"] = name
    opened = await open_case(data, actor=ASSOCIATION)
    await awaiting(opened.number, DECIDE)
    return opened, str(data["kp_number"])


def decisions(number: str) -> list[str]:
    case = case_row(number)
    with session_scope() as session:
        return [e.key for e in history(session=session, case_id=case.id)
                if e.key.startswith("decision:")]


def post_form(client: Any, url: str, data: dict[str, str]) -> Any:
    token = csrf_from(client.get("/inbox").text)
    return client.post(url, data={**data, "csrf_token": token}, follow_redirects=False)


def listed(page: str) -> list[str]:
    return re.findall(r'<a href="/zaken/[^"]+">(HR-[0-9-]+)</a>', page)


def test_inbox_needs_login(client: Any) -> None:
    response = client.get("/inbox", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/inloggen")


def test_unknown_case_is_a_dutch_404(client: Any) -> None:
    login(client, make_staff("register_staff"))
    response = client.get("/zaken/HR-1999-99999")
    assert response.status_code == 404
    assert m.CASE_NOT_FOUND.format(case="HR-1999-99999") in response.text


async def test_inbox_filters_case_page_and_refused_input(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"Inboxproef{uuid4().hex[:6]}"
    kot, kot_kp = await new_case(f"{marker} Anna", "KOT")
    bot, _ = await new_case(f"{marker} Bram", "BOT")  # no BOT days attended: short (R15)
    login(client, make_staff("association_staff"))

    both = listed(client.get("/inbox", params={"q": marker.lower()}).text)
    assert set(both) == {kot.number, bot.number}
    with session_scope() as session:
        pauses = {c.number: get_event(session=session, case_id=c.id,
                                      key=f"pause:{c.awaiting_key}")
                  for c in (case_row(kot.number), case_row(bot.number))}
    opened = {ref: pause.at for ref, pause in pauses.items() if pause is not None}
    assert both == sorted(opened, key=opened.__getitem__), "oldest pause first"
    assert listed(client.get("/inbox", params={"q": marker, "specialisatie": "BOT"}).text) \
        == [bot.number]
    assert listed(client.get("/inbox", params={"q": kot_kp}).text) == [kot.number]
    assert len(listed(client.get("/inbox", params={"q": marker,
                                                   "status": "association_check"}).text)) == 2
    nothing = client.get("/inbox", params={"q": marker, "status": "awaiting_payment"})
    assert listed(nothing.text) == [] and "Geen open aanvragen gevonden" in nothing.text

    monkeypatch.setattr(get_settings().web, "page_size", 1)
    first = client.get("/inbox", params={"q": marker})
    second = client.get("/inbox", params={"q": marker, "pagina": 2})
    assert "Pagina 1 van 2" in first.text and "Volgende" in first.text
    assert "Pagina 2 van 2" in second.text and "Vorige" in second.text
    assert listed(first.text) + listed(second.text) == both
    monkeypatch.undo()

    register = make_staff("register_staff")
    with staff_client(register) as kp_office:
        assert listed(kp_office.get("/inbox", params={"q": marker}).text) == []
        refused = post_form(kp_office, f"/zaken/{kot.number}/acties/{DECIDE}",
                            {"outcome": "advise"})
        assert refused.status_code == 403
        assert shown(m.ROLE_NOT_ALLOWED.format(role="medewerker KP",
                                               action=AssociationDecision.title)) in refused.text

    page = client.get(f"/zaken/{bot.number}")
    assert page.status_code == 200
    case = case_row(bot.number)
    for shortfall in case_verdict(case).shortfalls:
        assert shown(shortfall.message) in page.text
    assert ('<svg class="diagram wide" role="img" '
            'aria-label="Stap 2 van 10: Controle VvOCM') in page.text
    assert "Aanvraag geregistreerd" in page.text and "Aanvraag bevestigd" in page.text
    assert format_date(case.due_on) in page.text
    assert AssociationDecision.title in page.text

    url = f"/zaken/{bot.number}/acties/{DECIDE}"
    short = post_form(client, url, {"outcome": "advise", "note": "Mijn toelichting"})
    assert short.status_code == 422
    assert "Advies tot heropenen kan alleen als punten en uren toereikend zijn" in short.text
    assert "Mijn toelichting</textarea>" in short.text
    missing = post_form(client, url, {"note": "Nog een toelichting"})
    assert missing.status_code == 422
    assert m.FIELD_REQUIRED in missing.text and "Nog een toelichting</textarea>" in missing.text

    no_csrf = client.post(f"/zaken/{kot.number}/acties/{DECIDE}", data={"outcome": "advise"})
    assert no_csrf.status_code == 403 and shown(m.CSRF_FAILED) in no_csrf.text
    assert decisions(kot.number) == [] and decisions(bot.number) == []

    withdrawn = post_form(client, f"/zaken/{bot.number}/acties/withdraw",
                          {"reason": "Op verzoek van de oefentherapeut"})
    assert withdrawn.status_code == 303
    await settled(bot.number, "withdrawn")
    closed = client.get(f"/zaken/{bot.number}").text
    assert "Besluit vastleggen" not in closed and "Aanvraag intrekken</button>" not in closed
    assert 'aria-label="Stap 2 van 10: Controle VvOCM (Ingetrokken)' in closed
    assert listed(client.get("/inbox", params={"q": marker, "alle": "1"}).text) == [kot.number]


async def test_claims_conflicts_and_a_decision_moving_on(client: Any) -> None:
    marker = f"Claimproef{uuid4().hex[:6]}"
    opened, kp = await new_case(f"{marker} Cas")
    number, url = opened.number, f"/zaken/{opened.number}"
    anne = make_staff("association_staff", name=f"Anne {marker}")
    bob = make_staff("association_staff", name=f"Bob {marker}")
    login(client, anne)
    with staff_client(bob) as other:
        assert post_form(client, f"{url}/claimen", {}).status_code == 303
        assert f"<td>Anne {marker}</td>" in client.get("/inbox", params={"q": kp}).text
        taken = post_form(other, f"{url}/acties/{DECIDE}", {"outcome": "advise"})
        assert taken.status_code == 409
        assert shown(m.CLAIMED_BY_OTHER.format(name=f"Anne {marker}")) in taken.text
        assert post_form(other, f"{url}/claimen", {}).status_code == 409
        assert decisions(number) == []
        assert post_form(client, f"{url}/vrijgeven", {}).status_code == 303

        tokens = {id(c): csrf_from(c.get("/inbox").text) for c in (client, other)}

        def decide(browser: Any) -> Any:
            return browser.post(f"{url}/acties/{DECIDE}",
                                data={"outcome": "advise", "csrf_token": tokens[id(browser)]},
                                follow_redirects=False)

        with ThreadPoolExecutor(2) as pool:  # each thread keeps this test's Prefect settings
            futures = [pool.submit(contextvars.copy_context().run, decide, browser)
                       for browser in (client, other)]
            results = dict(zip(("anne", "bob"), (f.result() for f in futures), strict=True))
        assert sorted(r.status_code for r in results.values()) == [303, 409]
        loser = next(r for r in results.values() if r.status_code == 409)
        assert shown(m.ALREADY_DECIDED) in loser.text
        winner = client if results["anne"].status_code == 303 else other
        assert len(decisions(number)) == 1
        done = winner.get(results["anne" if winner is client else "bob"].headers["location"])
        assert m.RECEIVED_PENDING in done.text

    await awaiting(number, "portfolio_reopened")
    assert listed(client.get("/inbox", params={"q": kp}).text) == []
    with staff_client(make_staff("register_staff")) as kp_office:
        inbox = kp_office.get("/inbox", params={"q": kp}).text
        assert listed(inbox) == [number] and PortfolioReopened.title in inbox

    page = client.get(url).text
    assert AssociationDecision.title in page and "medewerker VvOCM:" in page
    assert "Controle door VvOCM &rarr; Advies tot heropenen aan KP" in page
    case_id = case_row(number).id

    def sent() -> Any:
        with session_scope() as session:
            return next((x for x in case_mails(session=session, case_id=case_id)
                         if x.status == MailStatus.SENT), None)

    mail = await wait_until(sent, 30, "a mail sent")
    assert f'{url}/mails/{mail.id}"' in client.get(url).text
    shown_mail = client.get(f"{url}/mails/{mail.id}")
    assert shown_mail.status_code == 200
    assert shown(mail.subject) in shown_mail.text and 'sandbox=""' in shown_mail.text
    assert client.get(f"{url}/mails/999999").status_code == 404
