"""Staff login: hashed passwords, CSRF on the form, lockout after repeated failures."""

from __future__ import annotations

from typing import Any

from domain import messages as m
from tests.conftest import PASSWORD, csrf_from, login, make_staff


def test_login_needs_csrf_token(client: Any) -> None:
    user = make_staff("association_staff")
    response = client.post("/inloggen", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert m.CSRF_FAILED in response.text
    wrong = client.post("/inloggen", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": "vervalst"})
    assert wrong.status_code == 403


def test_login_and_logout(client: Any) -> None:
    user = make_staff("register_staff")
    login(client, user)
    page = client.get("/inloggen")
    out = client.post("/uitloggen", data={"csrf_token": csrf_from(page.text)},
                      follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/inloggen"


def test_wrong_password_then_lockout(client: Any) -> None:
    user = make_staff("association_staff")
    for _ in range(5):
        page = client.get("/inloggen")
        failed = client.post("/inloggen", data={"email": user.email, "password": "fout",
                                                "csrf_token": csrf_from(page.text)})
        assert failed.status_code == 400
    page = client.get("/inloggen")
    locked = client.post("/inloggen", data={"email": user.email, "password": PASSWORD,
                                            "csrf_token": csrf_from(page.text)})
    assert locked.status_code == 400
    assert "Te veel mislukte pogingen" in locked.text


def test_login_redirect_stays_on_this_site(client: Any) -> None:
    page = client.get("/inloggen?volgende=//evil.example.org/")
    assert 'value="/inbox"' in page.text
