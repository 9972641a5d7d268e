"""Admin pages: only admins; staff accounts, API tokens and reviewers."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from models.db import session_scope
from models.staff import ApiToken, staff_by_email
from tests.conftest import csrf_from, login, make_staff
from web.security import staff_from_token


def test_only_admins_reach_admin_pages(client: Any) -> None:
    assert client.get("/beheer", follow_redirects=False).status_code == 303
    login(client, make_staff("register_staff"))
    assert client.get("/beheer").status_code == 403


def test_admin_adds_staff_with_one_time_password(client: Any) -> None:
    login(client, make_staff("admin"))
    page = client.get("/beheer")
    bad = client.post("/beheer/medewerkers", data={
        "csrf_token": csrf_from(page.text), "email": "geen-adres", "name": "Nieuw", "role": "x"})
    assert bad.status_code == 422
    assert "Vul een geldig e-mailadres in." in bad.text and 'value="Nieuw"' in bad.text
    added = client.post("/beheer/medewerkers", data={
        "csrf_token": csrf_from(page.text), "email": "Nieuw@Example.org", "name": "Nieuw",
        "role": "register_staff"})
    assert added.status_code == 200 and "Eenmalig wachtwoord voor nieuw@example.org" in added.text
    with session_scope() as session:
        assert staff_by_email(session=session, email="nieuw@example.org") is not None
    no_csrf = client.post("/beheer/medewerkers", data={"email": "x@example.org", "name": "X",
                                                       "role": "admin"})
    assert no_csrf.status_code == 403


def test_admin_creates_and_revokes_api_token(client: Any) -> None:
    admin = make_staff("admin")
    login(client, admin)
    page = client.get("/beheer")
    made = client.post("/beheer/tokens", data={"csrf_token": csrf_from(page.text),
                                               "staff_id": admin.id, "name": "koppeling"})
    assert "wordt maar één keer getoond): hr_" in made.text
    token = made.text.split("getoond): ")[1].split("<")[0].strip()
    with session_scope() as session:
        owner = staff_from_token(session=session, token=token)
        assert owner is not None and owner.id == admin.id
        row = session.exec(select(ApiToken).where(ApiToken.staff_id == admin.id)).one()
    revoked = client.post(f"/beheer/tokens/{row.id}/intrekken",
                          data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert revoked.status_code == 303
    with session_scope() as session:
        assert staff_from_token(session=session, token=token) is None
