"""The security holes of issue 6 (section 6), one test or a few per finding, each of which failed
before its fix. On the offline database, the step plan replayed between decisions; Prefect's
own API password needs a server and is tested with the stack.
"""

from __future__ import annotations

import json
import re
from base64 import b64decode, b64encode
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import starlette.requests
from fastapi.testclient import TestClient
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from pydantic import ValidationError
from pydantic_core import to_jsonable_python
from sqlmodel import select

from adapters.links import make_token, read_token
from domain import messages as m
from domain.errors import InvalidInput, LinkInvalid
from models.case import Case
from models.db import read_session
from models.practitioner import Practitioner, PractitionerChange, get_by_kp_number
from service.accounts import new_api_token
from service.actions import Outcome, act, open_case
from service.links import LINK_OLD_ROUND
from service.status_view import StatusView, status_view
from settings import DEVELOPMENT_SECRETS, Settings, SettingsError, get_settings
from tests.conftest import (
    ASSOCIATION,
    PRACTITIONER,
    REGISTER,
    TODAY,
    Mailbox,
    case_row,
    csrf_from,
    login,
    make_staff,
)
from tests.factories import request
from tests.replay import run_case
from web.api.errors import INVALID_INPUT
from web.app import create_app
from web.security import BODY_TOO_LARGE

REQUEST_DATE = TODAY - timedelta(days=30)
INTERNAL_NOTE = "Interne notitie: punten nagerekend met de ledenadministratie"
REVIEWER_NAME = "Dr. Vertrouwelijk Beoordelaar"
REVIEWER_EMAIL = "vertrouwelijk-beoordelaar@example.org"
SESSION_COOKIE = "herreg_session"
TWENTY_DIGITS = "9" * 20

# The steps up to the reviewer's findings: (pause key, action, input, who).
STEPS: list[tuple[str, str, dict[str, Any], Any]] = [
    ("association-decision", "association_decision",
     {"outcome": "advise", "note": INTERNAL_NOTE}, ASSOCIATION),
    ("portfolio-reopened", "portfolio_reopened",
     {"reopened_on": str(TODAY - timedelta(days=10))}, REGISTER),
    ("submission", "submit", {"submitted_on": str(TODAY - timedelta(days=3))}, PRACTITIONER),
    ("payment", "payment_received", {"paid_on": str(TODAY)}, REGISTER),
    ("completeness-1", "completeness", {"complete": True}, REGISTER),
    ("assignment", "assign_reviewer",
     {"reviewer_name": REVIEWER_NAME, "reviewer_email": REVIEWER_EMAIL}, REGISTER),
]


async def case_at(pause: str, data: dict[str, Any] | None = None) -> Outcome:
    """A new case, walked through the service until it waits at `pause`."""
    opened = await open_case(data or request(REQUEST_DATE), actor=ASSOCIATION)
    for key, action, values, actor in STEPS:
        assert await run_case(opened.case_id) == key
        if key == pause:
            return opened
        await act(opened.number, action, values, actor=actor)
    assert await run_case(opened.case_id) == pause
    return opened


def link_token(mailbox: Mailbox, case_id: int, template: str, path: str) -> str:
    """The token of the `path` link ("status" or "beoordeling") in the case's mail."""
    for message in mailbox.for_case(case_id):
        if str(message["X-Herregistratie-Key"]).split(":")[2] == template:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(rf"/{path}/([\w.\-]+)", body.get_content())
            assert found, f"no {path} link in mail {template}"
            return found.group(1)
    raise AssertionError(f"no mail {template} for case {case_id}")


def staff_token(role: str) -> dict[str, str]:
    user = make_staff(role)
    return {"Authorization": f"Bearer {new_api_token(staff_id=user.id, name='test')}"}


# --- secrets: none by default, and one each for sessions and links -----------------------------

SECRET_VARIABLES = ("HERREG_ENVIRONMENT", "HERREG_WEB__SESSION_SECRET",
                    "HERREG_LINKS__SECRET_KEY", "HERREG_PREFECT__AUTH_STRING",
                    "HERREG_PAYMENT__REGISTER_IBAN", "HERREG_PAYMENT__ASSOCIATION_IBAN")
SESSION_KEY = "s" * 40
LINK_KEY = "l" * 40
PREFECT_LOGIN = "herreg:een-wachtwoord-voor-prefect"
ACCOUNTS = {"payment__register_iban": "NL02RABO0123456789",
            "payment__association_iban": "NL39RABO0300065264"}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Sets exactly the given HERREG_ variables (environment: production unless given) and
    forgets the cached settings; they are forgotten again afterwards."""

    def use(**values: str) -> None:
        for name in SECRET_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HERREG_ENVIRONMENT", "production")
        for name, value in values.items():
            monkeypatch.setenv(f"HERREG_{name.upper()}", value)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


@pytest.mark.parametrize("variables", [
    {},
    {"links__secret_key": LINK_KEY, "prefect__auth_string": PREFECT_LOGIN},
    {"web__session_secret": SESSION_KEY, "prefect__auth_string": PREFECT_LOGIN},
    {"web__session_secret": "te-kort", "links__secret_key": LINK_KEY,
     "prefect__auth_string": PREFECT_LOGIN},
    {"web__session_secret": SESSION_KEY, "links__secret_key": LINK_KEY, **ACCOUNTS},
    {"web__session_secret": SESSION_KEY, "links__secret_key": LINK_KEY,
     "prefect__auth_string": PREFECT_LOGIN},
], ids=["nothing", "no-session-secret", "no-link-secret", "short-secret", "no-prefect-login",
        "example-bank-accounts"])
def test_production_refuses_to_start_without_its_secrets(
        environment: Callable[..., None], variables: dict[str, str]) -> None:
    environment(**variables)
    with pytest.raises(ValidationError):
        Settings()
    with pytest.raises(SettingsError) as refused:
        get_settings()
    assert str(refused.value).startswith("Onvolledige configuratie:")
    with pytest.raises(SettingsError):
        create_app()


def test_production_is_the_default_environment(environment: Callable[..., None],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    environment()
    monkeypatch.delenv("HERREG_ENVIRONMENT")
    with pytest.raises(SettingsError):
        get_settings()


def test_production_refuses_one_key_for_sessions_and_links(
        environment: Callable[..., None]) -> None:
    environment(web__session_secret=SESSION_KEY, links__secret_key=SESSION_KEY,
                prefect__auth_string=PREFECT_LOGIN)
    with pytest.raises(ValueError, match="eigen sleutel"):
        Settings()
    with pytest.raises(SettingsError, match="eigen sleutel"):
        get_settings()


@pytest.mark.parametrize(("values", "complaint"), [
    ({"web__session_secret": DEVELOPMENT_SECRETS["session"]}, "ontwikkelsleutel"),
    ({"links__secret_key": DEVELOPMENT_SECRETS["link"]}, "ontwikkelsleutel"),
    ({"prefect__auth_string": ":"}, "HERREG_PREFECT__AUTH_STRING"),
    ({"prefect__auth_string": "herreg:"}, "HERREG_PREFECT__AUTH_STRING"),
    ({"prefect__auth_string": "herreg:kort"}, "HERREG_PREFECT__AUTH_STRING"),
])
def test_production_refuses_the_known_development_values_and_an_empty_prefect_login(
        environment: Callable[..., None], values: dict[str, str], complaint: str) -> None:
    environment(**{"web__session_secret": SESSION_KEY, "links__secret_key": LINK_KEY,
                   "prefect__auth_string": PREFECT_LOGIN, **ACCOUNTS, **values})
    with pytest.raises(SettingsError, match=complaint):
        get_settings()


def test_production_starts_with_separate_keys_and_signs_links_with_the_link_key(
        environment: Callable[..., None]) -> None:
    environment(web__session_secret=SESSION_KEY, links__secret_key=LINK_KEY,
                prefect__auth_string=PREFECT_LOGIN, **ACCOUNTS)
    settings = get_settings()
    assert (settings.session_secret, settings.link_secret) == (SESSION_KEY, LINK_KEY)
    token = make_token("status", case=1, role="practitioner")
    assert URLSafeTimedSerializer(LINK_KEY, salt="herreg-status").loads(token)["case"] == 1
    with pytest.raises(BadSignature):
        URLSafeTimedSerializer(SESSION_KEY, salt="herreg-status").loads(token)


@pytest.mark.parametrize("name", ["development", "test"])
def test_development_and_test_use_two_built_in_keys(environment: Callable[..., None],
                                                    name: str) -> None:
    environment(environment=name)
    settings = get_settings()
    assert len(settings.session_secret) >= 32 and len(settings.link_secret) >= 32
    assert settings.session_secret != settings.link_secret


async def test_a_link_signed_with_any_other_key_is_refused(offline_client: TestClient) -> None:
    """Links are signed with the link key only: not the session key, not an empty key, not
    the old development default."""
    case = case_row((await case_at("association-decision")).case_id)
    settings = get_settings()
    genuine = make_token("status", case=case.id, role="practitioner")
    assert read_token("status", genuine)["case"] == case.id
    assert offline_client.get(f"/status/{genuine}").status_code == 200
    for key in (settings.session_secret, "", "alleen-voor-ontwikkeling"):
        forged = URLSafeTimedSerializer(key, salt="herreg-status").dumps(
            {"case": case.id, "role": "practitioner"})
        with pytest.raises(LinkInvalid):
            read_token("status", forged)
        refused = offline_client.get(f"/status/{forged}")
        assert refused.status_code == 403 and m.LINK_INVALID in refused.text
        api = offline_client.get(f"/api/v1/cases/{case.number}",
                                 headers={"X-Link-Token": forged})
        assert api.status_code == 401 and api.json() == {"detail": m.LINK_INVALID}


def _cookie_payload(cookie: str, key: str) -> dict[str, Any]:
    data = TimestampSigner(key).unsign(cookie.encode())
    return dict(json.loads(b64decode(data)))


def _cookie(payload: dict[str, Any], key: str) -> str:
    return TimestampSigner(key).sign(b64encode(json.dumps(payload).encode())).decode()


def test_session_cookie_is_signed_with_the_session_key_only(offline_client: TestClient) -> None:
    login(offline_client, make_staff("register_staff"))
    settings = get_settings()
    payload = _cookie_payload(offline_client.cookies[SESSION_COOKIE], settings.session_secret)
    assert set(payload) >= {"sid"}  # the login lives on the server; the cookie names it
    with pytest.raises(BadSignature):
        _cookie_payload(offline_client.cookies[SESSION_COOKIE], settings.link_secret)
    with TestClient(create_app()) as stranger:
        for key, status in ((settings.session_secret, 200), (settings.link_secret, 303)):
            response = stranger.get("/inbox", follow_redirects=False, headers={
                "Cookie": f"{SESSION_COOKIE}={_cookie(payload, key)}"})
            assert response.status_code == status, key


# --- logging out ends the login on the server --------------------------------------------------


def test_session_cookie_is_worthless_after_logout(offline_client: TestClient) -> None:
    login(offline_client, make_staff("association_staff"))
    old = offline_client.cookies[SESSION_COOKIE]
    page = offline_client.get("/inbox")
    assert page.status_code == 200
    out = offline_client.post("/uitloggen", data={"csrf_token": csrf_from(page.text)},
                              follow_redirects=False)
    assert out.status_code == 303
    with TestClient(create_app()) as replay:
        again = replay.get("/inbox", follow_redirects=False,
                           headers={"Cookie": f"{SESSION_COOKIE}={old}"})
        assert again.status_code == 303 and again.headers["location"].startswith("/inloggen")
        admin_pages = replay.get("/beheer", follow_redirects=False,
                                 headers={"Cookie": f"{SESSION_COOKIE}={old}"})
        assert admin_pages.status_code == 303


# --- request bodies are capped before anything parses them -------------------------------------


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the request bodies the app read."""
    sizes: list[int] = []
    read = starlette.requests.Request.body

    async def recording(self: starlette.requests.Request) -> bytes:
        body = await read(self)
        sizes.append(len(body))
        return body

    monkeypatch.setattr(starlette.requests.Request, "body", recording)
    return sizes


def test_json_body_over_the_cap_is_413_and_never_parsed(offline_client: TestClient,
                                                        parsed: list[int]) -> None:
    cap = get_settings().web.max_body_bytes
    body = json.dumps({"kp_number": "12345", "padding": "x" * cap}).encode()
    assert len(body) > cap
    vvocm = {"Authorization": "Bearer " + new_api_token(
        staff_id=make_staff("association_staff").id, name="test"),
        "Content-Type": "application/json"}
    declared = offline_client.post("/api/v1/cases", content=body, headers=vvocm)
    assert declared.status_code == 413 and declared.json() == {"detail": BODY_TOO_LARGE}
    streamed = offline_client.post(  # no Content-Length: counted while it streams in
        "/api/v1/cases", content=iter([body[:cap // 2], body[cap // 2:]]), headers=vvocm)
    assert streamed.status_code == 413 and streamed.json() == {"detail": BODY_TOO_LARGE}
    assert parsed == []
    stranger = offline_client.post("/api/v1/cases", json={"kp_number": "12345"})
    assert stranger.status_code == 401 and parsed == [], "no login: the body is not even read"
    small = offline_client.post("/api/v1/cases", json={"kp_number": "12345"}, headers=vvocm)
    assert small.status_code == 422 and parsed, "with a login it is read, and checked"


def test_form_body_over_the_cap_is_413(offline_client: TestClient) -> None:
    cap = get_settings().web.max_body_bytes
    page = offline_client.get("/inloggen")
    response = offline_client.post("/inloggen", data={
        "email": "a@example.org", "password": "x" * cap, "csrf_token": csrf_from(page.text)})
    assert response.status_code == 413 and response.text == BODY_TOO_LARGE


# --- a practitioner's link sees on the API what the status page shows --------------------------


async def test_practitioner_link_on_the_api_sees_exactly_the_status_view(
        offline_client: TestClient, mailbox: Mailbox) -> None:
    opened = await case_at("findings-1")
    token = link_token(mailbox, opened.case_id, "request_received", "status")
    response = offline_client.get(f"/api/v1/cases/{opened.number}",
                                  headers={"X-Link-Token": token})
    assert response.status_code == 200
    with read_session() as session:
        practitioner_view = status_view(session, case_row(opened.case_id))
    assert response.json() == practitioner_view.model_dump(mode="json")
    assert set(response.json()) == set(StatusView.model_fields)
    practitioner_email = _email_of(opened.case_id)
    addresses = get_settings().addresses
    for secret in (REVIEWER_NAME, REVIEWER_EMAIL, ASSOCIATION.name, REGISTER.name, INTERNAL_NOTE,
                   practitioner_email, addresses.association, addresses.register_office, "@"):
        assert secret not in response.text, secret
    page = offline_client.get(f"/status/{token}")
    for secret in (REVIEWER_NAME, REVIEWER_EMAIL, ASSOCIATION.name, INTERNAL_NOTE):
        assert secret not in page.text, secret

    staff = offline_client.get(f"/api/v1/cases/{opened.number}",
                               headers=staff_token("register_staff"))
    for shown_to_staff in (REVIEWER_NAME, ASSOCIATION.name, INTERNAL_NOTE, practitioner_email):
        assert shown_to_staff in staff.text, shown_to_staff


def _email_of(case_id: int) -> str:
    with read_session() as session:
        practitioner = session.get(Practitioner, case_row(case_id).practitioner_id)
        assert practitioner is not None
        return practitioner.email


# --- identity data: never overwritten by a request, changed by a recorded staff action ---------


def _identity(kp_number: str) -> tuple[str, str]:
    with read_session() as session:
        found = get_by_kp_number(session=session, kp_number=kp_number)
        assert found is not None
        return found.name, found.email


def _changes(kp_number: str) -> list[PractitionerChange]:
    with read_session() as session:
        found = get_by_kp_number(session=session, kp_number=kp_number)
        assert found is not None
        return list(session.exec(select(PractitionerChange).where(
            PractitionerChange.practitioner_id == found.id)))


async def test_opening_a_case_for_a_known_kp_number_with_another_identity_is_refused(
        offline_client: TestClient) -> None:
    first = request(REQUEST_DATE)
    opened = await open_case(first, actor=ASSOCIATION)
    kp, name, email = first["kp_number"], first["name"], first["email"]
    for field, label, value, errors_on in (("name", "naam", "Iemand Anders", "name"),
                                           ("email", "e-mailadres", "ander@example.org",
                                            "email")):
        with pytest.raises(InvalidInput) as refused:
            await open_case({**first, field: value, "specialisation": "BOT"}, actor=ASSOCIATION)
        assert refused.value.errors == {errors_on: m.IDENTITY_DIFFERS.format(
            field=label, kp=kp, value=name if field == "name" else email)}
    api = offline_client.post("/api/v1/cases", headers=staff_token("association_staff"),
                              json=to_jsonable_python({**first, "name": "Iemand Anders"}))
    assert api.status_code == 422
    assert api.json() == {"detail": INVALID_INPUT, "errors": {"name": m.IDENTITY_DIFFERS.format(
        field="naam", kp=kp, value=name)}}
    assert _identity(kp) == (name, email) and _changes(kp) == []
    assert [c.number for c in _cases_of(kp)] == [opened.number]


def _cases_of(kp_number: str) -> list[Case]:
    with read_session() as session:
        found = get_by_kp_number(session=session, kp_number=kp_number)
        assert found is not None
        return list(session.exec(select(Case).where(Case.practitioner_id == found.id)))


async def test_staff_change_identity_on_the_case_page_and_it_is_recorded(
        offline_client: TestClient, mailbox: Mailbox) -> None:
    first = request(REQUEST_DATE)
    opened = await case_at("association-decision", first)
    kp, url = first["kp_number"], f"/zaken/{opened.number}/gegevens"
    staff = make_staff("association_staff", name="Anne Wijziging")
    login(offline_client, staff)
    csrf = csrf_from(offline_client.get(f"/zaken/{opened.number}").text)
    no_reason = offline_client.post(url, data={"name": "Petra Nieuw-Naam",
                                               "email": "nieuw-adres@example.org",
                                               "csrf_token": csrf})
    assert no_reason.status_code == 422 and m.FIELD_REQUIRED in no_reason.text
    assert _identity(kp) == (first["name"], first["email"]) and _changes(kp) == []

    changed = offline_client.post(url, data={"name": "Petra Nieuw-Naam",
                                             "email": "nieuw-adres@example.org",
                                             "reason": "Getrouwd; nieuw adres per mail gemeld",
                                             "csrf_token": csrf}, follow_redirects=False)
    assert changed.status_code == 303
    assert _identity(kp) == ("Petra Nieuw-Naam", "nieuw-adres@example.org")
    [change] = _changes(kp)
    assert change.before == {"name": first["name"], "email": first["email"]}
    assert change.after == {"name": "Petra Nieuw-Naam", "email": "nieuw-adres@example.org"}
    assert (change.actor_name, change.reason) == (staff.name,
                                                  "Getrouwd; nieuw adres per mail gemeld")

    for key, action, values, actor in STEPS[:2]:
        await act(opened.number, action, values, actor=actor)
        assert await run_case(opened.case_id) != key
    reopened = [msg for msg in mailbox.for_case(opened.case_id)
                if str(msg["X-Herregistratie-Key"]).endswith(":portfolio_reopened")]
    assert [str(msg["To"]) for msg in reopened] == ["nieuw-adres@example.org"]


# --- KP numbers and reviewer addresses have one form --------------------------------------------

BAD_KP_NUMBERS = ["12345\x00", "\x0012345", "١٢٣٤٥", "１２３４５", "1234", "1234567890", "12a45"]


@pytest.mark.parametrize("kp_number", BAD_KP_NUMBERS)
async def test_kp_number_must_be_five_to_nine_ascii_digits(
        offline_client: TestClient, kp_number: str) -> None:
    data = {**request(REQUEST_DATE), "kp_number": kp_number}
    with pytest.raises(InvalidInput) as refused:
        await open_case(data, actor=ASSOCIATION)
    assert refused.value.errors == {"kp_number": m.FIELD_KP_NUMBER}
    api = offline_client.post("/api/v1/cases", headers=staff_token("association_staff"),
                              json=to_jsonable_python(data))
    assert api.status_code == 422
    assert api.json() == {"detail": INVALID_INPUT, "errors": {"kp_number": m.FIELD_KP_NUMBER}}
    with read_session() as session:
        assert get_by_kp_number(session=session, kp_number=kp_number) is None


@pytest.mark.parametrize("address", ["x@y.z,postmaster", "a@example.org, b@example.org",
                                     "a@example.org\nBcc: b@example.org"])
async def test_reviewer_email_is_one_address(offline: str, address: str) -> None:
    opened = await case_at("assignment")
    with pytest.raises(InvalidInput) as refused:
        await act(opened.number, "assign_reviewer",
                  {"reviewer_name": REVIEWER_NAME, "reviewer_email": address}, actor=REGISTER)
    assert refused.value.errors == {"reviewer_email": m.FIELD_EMAIL}
    assert case_row(opened.case_id).awaiting_key == "assignment"
    assert await run_case(opened.case_id) == "assignment"  # nothing was recorded


# --- every number is bounded: 404 or 422, never 500 ---------------------------------------------

PAGE_NUMBERS = ["%C2%B2", "9" * 5000, "-1", "0", "1e9"]


@pytest.mark.parametrize("pagina", PAGE_NUMBERS, ids=["superscript-two", "5000-digits",
                                                      "negative", "zero", "exponent"])
async def test_odd_page_numbers_show_page_one(offline_client: TestClient, pagina: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):  # so the admin's inbox has more than one page
        await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
    monkeypatch.setattr(get_settings().web, "page_size", 1)
    register = offline_client.get(f"/register?pagina={pagina}")
    assert register.status_code == 200 and "gevonden." in register.text
    login(offline_client, make_staff("admin"))
    inbox = offline_client.get(f"/inbox?pagina={pagina}")
    assert inbox.status_code == 200 and "Pagina 1 van" in inbox.text


@pytest.mark.parametrize("number", [TWENTY_DIGITS, "2147483648", "١٢٣"])
def test_case_numbers_out_of_range_are_404(offline_client: TestClient, number: str) -> None:
    headers = staff_token("register_staff")
    read = offline_client.get(f"/api/v1/cases/{number}", headers=headers)
    assert read.status_code == 404
    assert read.json() == {"detail": m.CASE_NOT_FOUND.format(case=number)}
    decide = offline_client.post(f"/api/v1/cases/{number}/completeness", headers=headers,
                                 json={"complete": True})
    assert decide.status_code == 404
    login(offline_client, make_staff("register_staff"))
    page = offline_client.get(f"/zaken/{number}")
    assert page.status_code == 404 and m.CASE_NOT_FOUND.format(case=number) in page.text


def test_api_list_offset_is_bounded(offline_client: TestClient) -> None:
    headers = staff_token("admin")
    huge = offline_client.get("/api/v1/cases", params={"offset": 10**12}, headers=headers)
    assert huge.status_code == 422
    assert huge.json() == {"detail": INVALID_INPUT,
                           "errors": {"offset": m.FIELD_TOO_LARGE.format(max=1_000_000)}}
    last = offline_client.get("/api/v1/cases", params={"offset": 1_000_000}, headers=headers)
    assert last.status_code == 200 and last.json()["items"] == []


async def test_points_beyond_any_bound_are_refused_when_opening(
        offline_client: TestClient) -> None:
    data = request(REQUEST_DATE)
    data["evidence"]["activities"][0]["points"] = "1e1000000"
    field = "evidence.activities.0.points"
    with pytest.raises(InvalidInput) as refused:
        await open_case(data, actor=ASSOCIATION)
    assert refused.value.errors == {field: m.FIELD_TOO_LARGE.format(max=1000)}

    body = json.dumps(to_jsonable_python(data)).replace('"1e1000000"', "1e1000000")
    assert '"points": 1e1000000' in body  # a bare JSON number, not a string
    api = offline_client.post("/api/v1/cases", content=body,
                              headers={**staff_token("association_staff"),
                                       "Content-Type": "application/json"})
    assert api.status_code == 422
    assert api.json()["detail"] == INVALID_INPUT
    assert api.json()["errors"][field] in (m.FIELD_NUMBER, m.FIELD_TOO_LARGE.format(max=1000))
    with read_session() as session:
        assert get_by_kp_number(session=session, kp_number=data["kp_number"]) is None


# --- a reviewer's API link is good for its own review round only --------------------------------


async def test_reviewer_api_link_of_round_one_is_refused_in_round_two(
        offline_client: TestClient, mailbox: Mailbox) -> None:
    opened = await case_at("findings-1")
    first = {"X-Link-Token": link_token(mailbox, opened.case_id, "review_assigned",
                                        "beoordeling")}
    url = f"/api/v1/cases/{opened.number}/findings"
    additions = {"outcome": "additions", "explanation": "Graag de uren van 2024 toelichten."}
    assert offline_client.post(url, headers=first, json=additions).status_code == 202
    assert await run_case(opened.case_id) == "additions-1"
    await act(opened.number, "additions_supplied",
              {"supplied_on": str(TODAY), "description": "Urenoverzicht 2024"},
              actor=PRACTITIONER)
    assert await run_case(opened.case_id) == "findings-2"
    second = {"X-Link-Token": link_token(mailbox, opened.case_id, "additions_received",
                                         "beoordeling")}

    late = offline_client.post(url, headers=first, json={"outcome": "positive"})
    assert late.status_code == 401 and late.json() == {"detail": LINK_OLD_ROUND}
    assert case_row(opened.case_id).awaiting_key == "findings-2"
    assert offline_client.post(url, headers=second, json={"outcome": "positive"}
                               ).status_code == 202
    assert await run_case(opened.case_id) == "certified"


# --- security headers, the API docs, time zones -------------------------------------------------

HEADED_PATHS = ["/", "/inloggen", "/register", "/status/vervalst", "/bestaat-niet",
                "/api/v1/cases", "/api/v1/openapi.json", "/api/v1/docs",
                f"/api/v1/cases/{TWENTY_DIGITS}"]


@pytest.mark.parametrize("path", HEADED_PATHS)
def test_security_headers_on_pages_and_api(offline_client: TestClient, path: str) -> None:
    response = offline_client.get(path, follow_redirects=False)
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_api_docs_load_only_local_assets(offline_client: TestClient) -> None:
    docs = offline_client.get("/api/v1/docs")
    assert docs.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets, "the docs page loads Swagger UI"
    assert not re.search(r"(https?:)?//", docs.text), "no address outside this site"
    for asset in assets:
        assert asset.startswith("/"), asset
        loaded = offline_client.get(asset)
        assert loaded.status_code == 200 and loaded.content, asset
    script = offline_client.get("/static/api-docs.js").text
    assert "/api/v1/openapi.json" in script and not re.search(r"https?://", script)
    assert offline_client.get("/api/v1/openapi.json").status_code == 200


async def test_api_timestamps_carry_a_time_zone(offline_client: TestClient) -> None:
    opened = await case_at("portfolio-reopened")
    detail = offline_client.get(f"/api/v1/cases/{opened.number}",
                                headers=staff_token("register_staff")).json()
    stamps = [event["at"] for event in detail["history"]]
    stamps += [mail["sent_at"] for event in detail["history"] for mail in event["mails"]
               if mail["sent_at"] is not None]
    assert len(stamps) > len(detail["history"]), "some mails were sent"
    for stamp in stamps:
        assert datetime.fromisoformat(stamp).utcoffset() is not None, stamp


# --- issue 21: the new doors -------------------------------------------------------------


@pytest.fixture
def no_body_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a request's form now is a failure of the test: the login, role or link check
    must have refused the request before."""
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the body was parsed before the login and role check")

    monkeypatch.setattr(starlette.requests.Request, "form", refuse)


UPLOAD = {"bestand": ("groot.xml", b"x" * 3_000_000, "application/xml")}


def test_login_and_role_are_checked_before_any_body_is_parsed(
        offline_client: TestClient, no_body_parsing: None) -> None:
    anonymous = offline_client.post("/betalingen/bankafschrift", files=UPLOAD,
                                    follow_redirects=False)
    assert anonymous.status_code == 303 and "/inloggen" in anonymous.headers["location"]
    small = {"bestand": ("klein.xml", b"x" * 500_000, "application/xml")}  # under the cap
    for path in ("/status/vervalst/acties/submit", "/beoordeling/vervalst",
                 "/aanvragen/vervalst", "/status/vervalst/startgesprek"):
        assert offline_client.post(path, files=small).status_code == 403, path


def test_the_wrong_role_is_refused_before_any_body_is_parsed(offline: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    with TestClient(create_app()) as vvocm:
        login(vvocm, make_staff("association_staff"))
        monkeypatch.setattr(starlette.requests.Request, "form",
                            lambda *_a, **_k: (_ for _ in ()).throw(AssertionError("parsed")))
        assert vvocm.post("/beheer/registraties", files=UPLOAD).status_code == 403
        assert vvocm.post("/beheer/medewerkers", data={"email": "x@example.org"}
                          ).status_code == 403


# Doors anyone may knock on: the login itself, the way in's first form, the request for a new
# status link, the payment provider's webhook (it carries only an id, checked with Mollie),
# logging out.
PUBLIC_POSTS = {"/inloggen", "/aanvragen", "/status/nieuwe-link", "/betalingen/mollie",
                "/uitloggen"}


def routes(client: TestClient, method: str) -> list[str]:
    """Every path of the app that answers `method`, included routers flattened."""
    from fastapi.routing import iter_route_contexts

    return [r.path for r in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
            if method in (getattr(r, "methods", None) or ())]


def test_every_post_route_refuses_a_stranger_before_reading_the_body(
        offline_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk over the app's routes, so a new door cannot forget the order: every POST that
    is not public answers a stranger (no login, a forged link) without reading the body."""
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the body was read before the login, role or link check")

    for method in ("form", "body", "json"):
        monkeypatch.setattr(starlette.requests.Request, method, refuse)
    walked = [path for path in routes(offline_client, "POST") if path not in PUBLIC_POSTS]
    for path in walked:
        filled = re.sub(r"\{(\w+)\}", lambda p: "1" if p.group(1).endswith("id") else
                        "vervalst", path)
        answer = offline_client.post(filled, files={"f": ("a.txt", b"x" * 1000, "text/plain")},
                                     follow_redirects=False)
        assert answer.status_code in (303, 401, 403, 404), (path, answer.status_code)
        if answer.status_code == 303:
            assert "/inloggen" in answer.headers["location"], path
    assert len(walked) >= 40 and "/api/v1/cases/{number}/withdraw" in walked


@pytest.mark.parametrize("odd", ["²", "١٠", "9" * 20, "9" * 5000, "-1", "%00", "..%2F"])
def test_every_route_with_odd_path_values_is_never_a_500(offline: str, odd: str) -> None:
    """Every path parameter of every route, GET and POST, as an admin with a valid form
    token: whatever is in the path, the answer is a refusal, never a server error."""
    with TestClient(create_app(), raise_server_exceptions=False) as admin:
        login(admin, make_staff("admin"))
        token = csrf_from(admin.get("/inbox").text)
        errors = {}
        for method in ("GET", "POST"):
            for path in routes(admin, method):
                if "{" not in path:
                    continue
                filled = re.sub(r"\{\w+\}", odd, path)
                answer = admin.request(method, filled, data={"csrf_token": token},
                                       follow_redirects=False)
                if answer.status_code >= 500:
                    errors[f"{method} {path}"] = answer.status_code
    assert not errors, errors


ODD = ["²", "١٠", "9" * 20, "9" * 5000, "-1", "0", "1e9", " "]


@pytest.mark.parametrize("odd", ODD)
async def test_odd_numbers_anywhere_are_404_or_422_never_500(offline: str, odd: str) -> None:
    """One rule for numbers and ids (path, query, form): bounded ASCII digits; anything else
    is a Dutch 404 or 422 page. Found before: 500s and dropped connections."""
    case = case_row((await case_at("assignment")).case_id)
    status = make_token("status", case=case.id, role="practitioner")
    with TestClient(create_app(), raise_server_exceptions=False) as staff:
        login(staff, make_staff("admin"))
        token = csrf_from(staff.get("/inbox").text)
        quoted = odd.replace(" ", "%20")
        answers = {
            "document": staff.get(f"/zaken/{case.number}/documenten/{quoted}"),
            "mail": staff.get(f"/zaken/{case.number}/mails/{quoted}"),
            "resend": staff.post(f"/zaken/{case.number}/mails/{quoted}/opnieuw",
                                 data={"csrf_token": token}),
            "deactivate": staff.post(f"/beheer/medewerkers/{quoted}/deactiveren",
                                     data={"csrf_token": token}),
            "reactivate": staff.post(f"/beheer/medewerkers/{quoted}/heractiveren",
                                     data={"csrf_token": token}),
            "revoke": staff.post(f"/beheer/tokens/{quoted}/intrekken",
                                 data={"csrf_token": token}),
            "token": staff.post("/beheer/tokens", data={"csrf_token": token,
                                                        "staff_id": odd, "name": "x"}),
            "rows": staff.post(f"/zaken/{case.number}/punten", data={
                "csrf_token": token, "activities-rows": odd, "meer": "activities"}),
            "reviewer": staff.post(f"/zaken/{case.number}/acties/assign_reviewer", data={
                "csrf_token": token, "beoordelaar": odd, "pause_key": "assignment"}),
            "report": staff.get("/rapportage", params={"van": f"{odd}-01"}),
            "inbox": staff.get("/inbox", params={"pagina": odd}),
            "slot": staff.post(f"/status/{status}/startgesprek",
                               data={"csrf_token": token, "slot": odd}),
        }
    errors = {name: answer.status_code for name, answer in answers.items()
              if answer.status_code >= 500}
    assert not errors, errors
    for name, answer in answers.items():
        assert answer.headers.get("Content-Security-Policy"), name  # the error pages too


def test_a_500_page_carries_the_security_headers(offline: str) -> None:
    app = create_app()

    @app.get("/kapot")
    def broken() -> None:
        raise RuntimeError("een fout van ons")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/kapot")
    assert answer.status_code == 500
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_staff_pages_are_not_kept_in_any_cache(offline_client: TestClient) -> None:
    login(offline_client, make_staff("admin"))
    for path in ("/beheer", "/inbox", "/api/v1/docs"):
        assert offline_client.get(path).headers["Cache-Control"] == "no-store", path
    assert "persistAuthorization: false" in offline_client.get("/static/api-docs.js").text
