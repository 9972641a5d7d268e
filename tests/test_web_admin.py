"""Admin pages (offline database): only admins; staff accounts, API tokens and reviewers."""

from __future__ import annotations

from typing import Any

from markupsafe import escape
from sqlmodel import select

from domain import messages as m
from models.db import session_scope
from models.staff import ApiToken, staff_by_email
from service.accounts import MIN_PASSWORD_LENGTH, staff_from_token
from tests.conftest import PASSWORD, csrf_from, login, make_staff


def test_only_admins_reach_admin_pages(offline_client: Any) -> None:
    assert offline_client.get("/beheer", follow_redirects=False).status_code == 303
    login(offline_client, make_staff("register_staff"))
    assert offline_client.get("/beheer").status_code == 403


def test_admin_adds_staff_with_one_time_password(offline_client: Any) -> None:
    login(offline_client, make_staff("admin"))
    page = offline_client.get("/beheer")
    bad = offline_client.post("/beheer/medewerkers", data={
        "csrf_token": csrf_from(page.text), "email": "geen-adres", "name": "Nieuw", "role": "x"})
    assert bad.status_code == 422
    assert "Vul een geldig e-mailadres in." in bad.text and 'value="Nieuw"' in bad.text
    added = offline_client.post("/beheer/medewerkers", data={
        "csrf_token": csrf_from(page.text), "email": "Nieuw@Example.org", "name": "Nieuw",
        "role": "register_staff"})
    assert added.status_code == 200 and "Eenmalig wachtwoord voor nieuw@example.org" in added.text
    with session_scope() as session:
        assert staff_by_email(session=session, email="nieuw@example.org") is not None
    no_csrf = offline_client.post("/beheer/medewerkers", data={
        "email": "x@example.org", "name": "X", "role": "admin"})
    assert no_csrf.status_code == 403


def test_admin_creates_and_revokes_api_token(offline_client: Any) -> None:
    admin = make_staff("admin")
    login(offline_client, admin)
    page = offline_client.get("/beheer")
    made = offline_client.post("/beheer/tokens", data={"csrf_token": csrf_from(page.text),
                                                       "staff_id": admin.id, "name": "koppeling"})
    assert "wordt maar één keer getoond): hr_" in made.text
    token = made.text.split("getoond): ")[1].split("<")[0].strip()
    with session_scope() as session:
        owner = staff_from_token(session=session, token=token)
        assert owner is not None and owner.id == admin.id
        row = session.exec(select(ApiToken).where(ApiToken.staff_id == admin.id)).one()
    revoked = offline_client.post(f"/beheer/tokens/{row.id}/intrekken",
                                  data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert revoked.status_code == 303
    with session_scope() as session:
        assert staff_from_token(session=session, token=token) is None


def test_deactivated_account_is_logged_out_at_once(offline_client: Any) -> None:
    """Deactivation ends the account's logins on the server (its cookie is worth nothing)."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    colleague = make_staff("association_staff")
    with TestClient(create_app()) as colleague_browser:
        login(colleague_browser, colleague)
        assert colleague_browser.get("/inbox").status_code == 200
        login(offline_client, make_staff("admin"))
        page = offline_client.get("/beheer")
        done = offline_client.post(f"/beheer/medewerkers/{colleague.id}/deactiveren",
                                   data={"csrf_token": csrf_from(page.text)},
                                   follow_redirects=False)
        assert done.status_code == 303
        out = colleague_browser.get("/inbox", follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"].startswith("/inloggen")
    with session_scope() as session:
        assert not staff_by_email(session=session, email=colleague.email).active


def test_a_deactivated_account_is_reactivated_with_a_new_one_time_password(
        offline_client: Any) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    colleague = make_staff("association_staff")
    login(offline_client, make_staff("admin"))
    token = csrf_from(offline_client.get("/beheer").text)
    offline_client.post(f"/beheer/medewerkers/{colleague.id}/deactiveren",
                        data={"csrf_token": token})
    back = offline_client.post(f"/beheer/medewerkers/{colleague.id}/heractiveren",
                               data={"csrf_token": token})
    assert back.status_code == 200
    password = back.text.split(f"Eenmalig wachtwoord voor {colleague.email}: ")[1].split("<")[0]
    with TestClient(create_app()) as browser:
        page = browser.get("/inloggen")
        old = browser.post("/inloggen", data={"email": colleague.email, "password": PASSWORD,
                                              "csrf_token": csrf_from(page.text)})
        assert old.status_code == 400, "the old password no longer works"
        login(browser, colleague, password=password.strip())
        inbox = browser.get("/inbox")  # a one-time password: first a password of one's own
        assert inbox.url.path == "/wachtwoord" and str(escape(m.CHOOSE_OWN_PASSWORD)) in \
            inbox.text


def test_a_one_time_password_logs_in_once_and_only_to_choose_a_password(
        offline_client: Any) -> None:
    """Seen before: a new account's one-time password logged in three times and was never
    replaced."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    login(offline_client, make_staff("admin"))
    added = offline_client.post("/beheer/medewerkers", data={
        "csrf_token": csrf_from(offline_client.get("/beheer").text),
        "email": "eenmalig@example.org", "name": "Eva Eenmalig", "role": "register_staff"})
    one_time = added.text.split("Eenmalig wachtwoord voor eenmalig@example.org: ")[1] \
        .split("<")[0].strip()
    with session_scope() as session:
        person = staff_by_email(session=session, email="eenmalig@example.org")
    assert person is not None
    with TestClient(create_app()) as first, TestClient(create_app()) as second:
        login(first, person, password=one_time)
        for path in ("/inbox", "/rapportage", "/betalingen/bankafschrift"):
            page = first.get(path)
            assert page.url.path == "/wachtwoord", path
        form = second.get("/inloggen")
        again = second.post("/inloggen", data={"email": person.email, "password": one_time,
                                               "csrf_token": csrf_from(form.text)})
        assert again.status_code == 400 and m.LOGIN_FAILED in again.text
        changed = first.post("/wachtwoord", data={
            "csrf_token": csrf_from(first.get("/wachtwoord").text), "huidig": one_time,
            "nieuw": "een-eigen-wachtwoord", "herhaal": "een-eigen-wachtwoord"})
        assert changed.status_code == 200 and m.PASSWORD_CHANGED in changed.text
        assert first.get("/inbox").url.path == "/inbox"
        login(second, person, password="een-eigen-wachtwoord")


def test_staff_change_their_own_password_and_other_logins_end(offline_client: Any) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    person = make_staff("register_staff")
    login(offline_client, person)
    with TestClient(create_app()) as elsewhere:
        login(elsewhere, person)
        form = offline_client.get("/wachtwoord").text
        new = "mijn-eigen-wachtwoord-2026"
        refused = offline_client.post("/wachtwoord", data={
            "csrf_token": csrf_from(form), "huidig": "fout", "nieuw": "kort", "herhaal": "kort"})
        assert refused.status_code == 422
        assert m.PASSWORD_WRONG in refused.text
        assert m.PASSWORD_TOO_SHORT.format(min=MIN_PASSWORD_LENGTH) in refused.text
        mismatch = offline_client.post("/wachtwoord", data={
            "csrf_token": csrf_from(form), "huidig": PASSWORD, "nieuw": new, "herhaal": new + "x"})
        assert mismatch.status_code == 422 and m.PASSWORD_MISMATCH in mismatch.text
        done = offline_client.post("/wachtwoord", data={
            "csrf_token": csrf_from(form), "huidig": PASSWORD, "nieuw": new, "herhaal": new})
        assert done.status_code == 200 and m.PASSWORD_CHANGED in done.text
        assert offline_client.get("/inbox").status_code == 200, "this login goes on"
        assert elsewhere.get("/inbox", follow_redirects=False).status_code == 303
    with TestClient(create_app()) as fresh:
        login(fresh, person, password=new)
