"""Staff pages on the offline database: the inbox per role, the case page, decisions through
the form (with Dutch errors, CSRF, roles, claims, take-overs and conflicts) and the mails sent.
The step plan is replayed between the page actions (tests/replay.py)."""

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
from domain.decisions import AssociationDecision, PortfolioReopened
from domain.formatting import format_date
from domain.procedure import DECISIONS, STAGE
from domain.states import CaseState
from models.case import case_verdict, find_case, get_event, history
from models.db import session_scope, utcnow
from models.outbox import MailStatus, case_mails
from service.actions import Outcome, done_message, open_case
from service.inbox import STUCK_MARK
from service.status_view import status_view
from settings import get_settings
from tests.conftest import ASSOCIATION, TODAY, Mailbox, case_row, csrf_from, login, make_staff
from tests.factories import request
from tests.replay import close, run_case
from web.routes.staff import TAKEN_OVER

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
    assert await run_case(opened.case_id) == "association-decision"
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


def test_inbox_needs_login(offline_client: Any) -> None:
    response = offline_client.get("/inbox", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/inloggen")


def test_unknown_case_is_a_dutch_404(offline_client: Any) -> None:
    login(offline_client, make_staff("register_staff"))
    response = offline_client.get("/zaken/HR-1999-99999")
    assert response.status_code == 404
    assert m.CASE_NOT_FOUND.format(case="HR-1999-99999") in response.text


async def test_inbox_filters_case_page_and_refused_input(
    offline_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = offline_client
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
    assert listed(nothing.text) == [] and "Geen aanvragen gevonden" in nothing.text

    monkeypatch.setattr(get_settings().web, "page_size", 1)
    first = client.get("/inbox", params={"q": marker})
    second = client.get("/inbox", params={"q": marker, "pagina": 2})
    assert "Pagina 1 van 2" in first.text and "Volgende" in first.text
    assert "Pagina 2 van 2" in second.text and "Vorige" in second.text
    assert listed(first.text) + listed(second.text) == both
    monkeypatch.undo()

    register = make_staff("register_staff")
    with staff_client(register) as kp_office:
        assert {kot.number, bot.number}.isdisjoint(listed(kp_office.get("/inbox").text))
        assert set(listed(kp_office.get("/inbox", params={"q": marker}).text)) == \
            {kot.number, bot.number}, "a search looks through all cases"
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
    assert "request_received" not in page.text and "association_check_requested" not in page.text
    people, system = page.text.split("Systeemgebeurtenissen")
    assert "Wacht op: " + AssociationDecision.title in system
    assert "Wacht op: " not in people
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

    unconfirmed = post_form(client, f"/zaken/{bot.number}/acties/withdraw",
                            {"reason": "Op verzoek van de oefentherapeut"})
    assert unconfirmed.status_code == 422 and shown(m.CONFIRM_WITHDRAW) in unconfirmed.text
    assert "Op verzoek van de oefentherapeut" in unconfirmed.text
    assert decisions(bot.number) == []
    withdrawn = post_form(client, f"/zaken/{bot.number}/acties/withdraw",
                          {"reason": "Op verzoek van de oefentherapeut", "bevestigen": "ja"})
    assert withdrawn.status_code == 303
    assert await close(bot.case_id, "withdrawn")
    closed = client.get(f"/zaken/{bot.number}").text
    assert "Besluit vastleggen" not in closed and "Aanvraag intrekken</button>" not in closed
    assert 'aria-label="Stap 2 van 10: Controle VvOCM (Ingetrokken)' in closed
    found = client.get("/inbox", params={"q": marker}).text
    assert listed(found) == [kot.number, bot.number], "a closed case is found, open ones first"
    assert "Ingetrokken" in found
    assert listed(client.get("/inbox", params={"alle": "1", "specialisatie": "BOT"}).text) \
        .count(bot.number) == 0, "without a search only open cases"

    with session_scope() as session:
        late = find_case(session=session, ref=kot.number)
        late.due_on = get_settings().current_date() - timedelta(days=3)
        session.add(late)
    row = client.get("/inbox", params={"q": marker}).text
    assert 'class="overdue"' in row and "(3 dagen te laat)" in row


async def test_claims_conflicts_and_a_decision_moving_on(offline_client: Any) -> None:
    client = offline_client
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
        assert m.RECEIVED_QUEUED in done.text  # Prefect is down here: recorded, queued
        assert m.RECEIVED_PENDING in done.text  # the decision is not processed yet

    assert await run_case(opened.case_id) == "portfolio-reopened"
    assert listed(client.get("/inbox", params={"q": kp, "status": "association_check"}).text) \
        == [], "no longer waiting for VvOCM"
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

    mail = sent()
    assert mail is not None, "run_case sends the step's mails"
    assert f'{url}/mails/{mail.id}"' in client.get(url).text
    shown_mail = client.get(f"{url}/mails/{mail.id}")
    assert shown_mail.status_code == 200
    assert shown(mail.subject) in shown_mail.text and 'sandbox=""' in shown_mail.text
    assert client.get(f"{url}/mails/999999").status_code == 404


def history_actions(number: str) -> list[str]:
    with session_scope() as session:
        return [e.action for e in history(session=session, case_id=case_row(number).id)]


def set_case(number: str, **values: Any) -> None:
    """Puts the case in a condition a test cannot reach quickly (an old claim, a stuck run)."""
    with session_scope() as session:
        case = find_case(session=session, ref=number)
        for name, value in values.items():
            setattr(case, name, value)
        session.add(case)


async def test_take_over_admin_release_and_claims_that_hold_nothing(
        offline_client: Any) -> None:
    marker = f"Overname{uuid4().hex[:6]}"
    opened, kp = await new_case(f"{marker} Dirk")
    number, url = opened.number, f"/zaken/{opened.number}"
    anne = make_staff("association_staff", name=f"Anne {marker}")
    bob = make_staff("association_staff", name=f"Bob {marker}")
    login(offline_client, anne)
    with staff_client(bob) as other, staff_client(make_staff("admin")) as admin, \
            staff_client(make_staff("register_staff")) as kp_office:
        refused = post_form(kp_office, f"{url}/claimen", {})
        assert refused.status_code == 409
        assert shown(m.CLAIM_NOT_YOUR_STEP.format(action=AssociationDecision.title)) \
            in refused.text

        assert post_form(offline_client, f"{url}/claimen", {}).status_code == 303
        assert f"Stap overnemen van Anne {marker}" in other.get(url).text
        taken = post_form(other, f"{url}/overnemen", {})
        assert taken.status_code == 303
        assert shown(TAKEN_OVER.format(name=f"Anne {marker}")) in other.get(
            taken.headers["location"]).text
        assert "claim_taken_over" in history_actions(number)
        assert f"<td>medewerker VvOCM: Bob {marker}</td><td>Stap overgenomen</td>" \
            in other.get(url).text
        blocked = post_form(offline_client, f"{url}/acties/{DECIDE}", {"outcome": "advise"})
        assert blocked.status_code == 409
        assert shown(m.CLAIMED_BY_OTHER.format(name=f"Bob {marker}")) in blocked.text

        assert post_form(admin, f"{url}/vrijgeven", {}).status_code == 303
        assert "claim_released" in history_actions(number)
        assert "<td>Stap vrijgegeven door beheerder</td>" in admin.get(url).text
        assert f"<td>Bob {marker}</td>" not in admin.get("/inbox", params={"q": kp}).text

        # A claim ends with its holder's account, and after web.claim_hours.
        assert post_form(offline_client, f"{url}/claimen", {}).status_code == 303
        page = admin.get("/beheer")
        assert admin.post(f"/beheer/medewerkers/{anne.id}/deactiveren",
                          data={"csrf_token": csrf_from(page.text)},
                          follow_redirects=False).status_code == 303
        assert post_form(other, f"{url}/claimen", {}).status_code == 303
        hours = get_settings().web.claim_hours
        set_case(number, claimed_at=utcnow() - timedelta(hours=hours, minutes=1))
        assert "niemand" in other.get(url).text
        assert decisions(number) == []

        # A page shows the step it was loaded for; after the step, its form is stale.
        stale = post_form(kp_office, f"{url}/acties/{DECIDE}", {"outcome": "advise"})
        assert stale.status_code == 403
        decided = post_form(other, f"{url}/acties/{DECIDE}",
                            {"outcome": "advise", "pause_key": "association-decision"})
        assert decided.status_code == 303
        assert await run_case(opened.case_id) == "portfolio-reopened"
        late = post_form(other, f"{url}/acties/{DECIDE}",
                         {"outcome": "advise", "pause_key": "association-decision"})
        assert late.status_code == 409
        assert shown(m.STEP_MOVED_ON.format(label=case_row(number).state.label)) in late.text
        assert len(decisions(number)) == 1


async def test_kp_restarts_a_stuck_case_and_the_restart_is_recorded(offline: str) -> None:
    opened, kp = await new_case(f"Vastgelopen{uuid4().hex[:6]} Eva")
    number, url = opened.number, f"/zaken/{opened.number}"
    reason = m.STUCK.format(cause=m.REPAIR_CAUSES["run_missing"], attempts=5)
    set_case(number, stuck_reason=reason, stuck_since=utcnow())
    with staff_client(make_staff("register_staff", name="Karel Herstart")) as kp_office:
        inbox = kp_office.get("/inbox", params={"q": kp}).text
        assert listed(inbox) == [number] and STUCK_MARK in inbox
        page = kp_office.get(url).text
        assert shown(reason) in page and f'action="{url}/herstarten"' in page
        with staff_client(make_staff("association_staff")) as vvocm:
            assert f'action="{url}/herstarten"' not in vvocm.get(url).text
            assert post_form(vvocm, f"{url}/herstarten", {}).status_code == 403
        restarted = kp_office.post(f"{url}/herstarten",
                                   data={"csrf_token": csrf_from(kp_office.get(url).text)})
        # No Prefect here: the restart is recorded, and the sweep starts the fresh run.
        assert restarted.status_code == 200
        assert shown(m.RESTARTED_LATER) in restarted.text
        case = case_row(number)
        assert case.stuck_reason is None and case.run_generation == 2
        assert "repair" in history_actions(number)
        assert "<td>medewerker KP: Karel Herstart</td><td>Workflow opnieuw gestart</td>" \
            in kp_office.get(url).text
        assert await run_case(opened.case_id) == "association-decision"
        again = post_form(kp_office, f"{url}/herstarten", {})
        assert again.status_code == 409 and shown(m.NOT_STUCK) in again.text


async def test_dead_letter_is_shown_and_sent_again_with_the_same_message_id(
        offline_client: Any, mailbox: Mailbox) -> None:
    opened, _ = await new_case(f"Onbestelbaar{uuid4().hex[:6]} Fien")
    url = f"/zaken/{opened.number}"
    with session_scope() as session:
        mail = next(x for x in case_mails(session=session, case_id=opened.case_id)
                    if x.template == "request_received")
        first_id = next(str(x["Message-ID"]) for x in mailbox.for_case(opened.case_id)
                        if str(x["X-Herregistratie-Key"]) == mail.key)
        mail.status, mail.last_error = MailStatus.DEAD, "550 mailbox unavailable"
        session.add(mail)
        mail_id = mail.id
    login(offline_client, make_staff("register_staff"))
    page = offline_client.get(url).text
    assert f'action="{url}/mails/{mail_id}/opnieuw"' in page
    resent = post_form(offline_client, f"{url}/mails/{mail_id}/opnieuw", {})
    assert resent.status_code == 303
    again = [x for x in mailbox.for_case(opened.case_id)
             if str(x["X-Herregistratie-Key"]) == mail.key]
    assert len(again) == 2 and {str(x["Message-ID"]) for x in again} == {first_id}
    # The one duplicate on purpose (a receiver drops it by its Message-ID): out of the shared
    # mailbox, so that `assert_each_once` in later tests still finds accidental ones only.
    mailbox.messages.remove(again[1])
    assert "mail_resent" in history_actions(opened.number)
    not_dead = post_form(offline_client, f"{url}/mails/{mail_id}/opnieuw", {})
    assert not_dead.status_code == 409 and shown(m.MAIL_NOT_DEAD) in not_dead.text


async def test_internal_comments_are_for_staff_once_per_form(offline_client: Any) -> None:
    client = offline_client
    marker = f"Opmerkingproef{uuid4().hex[:6]}"
    opened, _ = await new_case(f"{marker} Eva")
    url = f"/zaken/{opened.number}"
    login(client, make_staff("association_staff", name=f"Ella {marker}"))
    page = client.get(url).text
    form_id = re.search(r'name="formulier" value="([0-9a-f]{32})"', page)
    assert form_id is not None and "Nog geen opmerkingen." in page
    empty = post_form(client, f"{url}/opmerkingen", {"opmerking": "  ",
                                                     "formulier": form_id.group(1)})
    assert empty.status_code == 422 and shown(m.FIELD_TEXT_REQUIRED) in empty.text
    text = "Gebeld met de oefentherapeut: uittreksel volgt per post."
    for _ in range(2):  # a double click
        added = post_form(client, f"{url}/opmerkingen", {"opmerking": text,
                                                         "formulier": form_id.group(1)})
        assert added.status_code == 303
    page = client.get(url).text
    assert page.count(text) == 2, "once in the comments, once in the history"
    assert f"Ella {marker}" in page

    with session_scope() as session:
        view = status_view(session, find_case(session=session, ref=opened.number))
    assert text not in view.model_dump_json()


async def test_vvocm_registers_an_emailed_request_as_a_form(offline_client: Any) -> None:
    client = offline_client
    data = request(TODAY - timedelta(days=10))
    login(client, make_staff("association_staff"))
    page = client.get("/zaken/nieuw")
    assert page.status_code == 200 and 'name="activities-5-points"' in page.text
    token = csrf_from(page.text)
    form = {"csrf_token": token, "kp_number": data["kp_number"], "name": data["name"],
            "email": data["email"], "member": "ja", "specialisation": "KOT",
            "request_date": str(data["request_date"]),
            "previous_period_start": str(data["previous_period_start"])}
    for i, activity in enumerate(data["evidence"]["activities"]):
        form |= {f"activities-{i}-on": activity["on"], f"activities-{i}-category":
                 activity["category"], f"activities-{i}-title": activity["title"],
                 f"activities-{i}-points": activity["points"].replace(".", ",")}
    form |= {"activities-0-points": "29,5", "activities-2-points": "30,5"}  # Dutch decimals
    hours = data["evidence"]["work_hours"][0]
    form |= {"work_hours-1-start": hours["start"], "work_hours-1-end": hours["end"],
             "work_hours-1-hours": hours["hours"]}

    more = client.post("/zaken/nieuw", data={**form, "meer": "activities"})
    assert more.status_code == 200 and 'name="activities-10-points"' in more.text
    assert f'value="{data["name"]}"' in more.text, "typed values are kept"

    wrong = client.post("/zaken/nieuw", data={**form, "activities-1-points": "veel"})
    assert wrong.status_code == 422
    row = wrong.text.split('id="activities-1-points"')[1].split("</td>")[0]
    assert m.FIELD_NUMBER in row, "the error sits on the row it belongs to"

    done = client.post("/zaken/nieuw", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    number = done.headers["location"].split("/zaken/")[1].split("?")[0]
    case = case_row(number)
    assert case_verdict(case).points_total == 90 and case_verdict(case).hours_total == 900
    assert m.CASE_OPENED.format(number=number) in client.get(done.headers["location"]).text
    again = client.post("/zaken/nieuw", data=form)
    assert again.status_code == 409 and number in again.text, "a double submit opens nothing"


async def test_what_a_click_did_is_said_once_and_in_words(offline_client: Any) -> None:
    """The notice belongs to the response of the click (a flash), not to the URL: reloading
    the page, days later, says nothing about a click. A processed step is named in words."""
    opened, _kp = await new_case(f"Flash {uuid4().hex[:6]}", "KOT")
    login(offline_client, make_staff("association_staff"))
    answer = post_form(offline_client, f"/zaken/{opened.number}/acties/{DECIDE}",
                       {"outcome": "advise"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/zaken/{opened.number}"
    first = offline_client.get(answer.headers["location"]).text
    assert shown(m.RECEIVED_QUEUED) in first  # Prefect is down here: the sweep delivers it
    assert shown(m.RECEIVED_QUEUED) not in offline_client.get(f"/zaken/{opened.number}").text
    await run_case(opened.case_id)  # done: no page says "being processed" any more
    assert shown(m.RECEIVED_PENDING) not in offline_client.get(
        f"/zaken/{opened.number}?gelukt=1").text
    case = case_row(opened.number)
    assert done_message(case) == (
        "Vastgelegd: het advies tot heropenen is naar het KP gestuurd. Volgende stap: "
        f"{DECISIONS['portfolio_reopened'].title}.")
    case.state, case.awaiting_action = CaseState.DECLINED, None
    assert done_message(case) == "Vastgelegd: " + str(STAGE[CaseState.DECLINED].done) + "."
