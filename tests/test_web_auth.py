"""Staff login (offline database): hashed passwords, CSRF on the form, lockout after repeated
failures, and logout ending the login on the server."""

from __future__ import annotations

from typing import Any

from domain import messages as m
from tests.conftest import PASSWORD, csrf_from, login, make_staff


def test_login_needs_csrf_token(offline_client: Any) -> None:
    user = make_staff("association_staff")
    response = offline_client.post("/inloggen", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert m.CSRF_FAILED in response.text
    wrong = offline_client.post("/inloggen", data={"email": user.email, "password": PASSWORD,
                                                   "csrf_token": "vervalst"})
    assert wrong.status_code == 403


def test_login_and_logout(offline_client: Any) -> None:
    user = make_staff("register_staff")
    login(offline_client, user)
    page = offline_client.get("/inloggen")
    out = offline_client.post("/uitloggen", data={"csrf_token": csrf_from(page.text)},
                              follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/inloggen"
    after = offline_client.get("/inbox", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/inloggen")


def test_wrong_password_then_lockout(offline_client: Any) -> None:
    user = make_staff("association_staff")
    for _ in range(5):
        page = offline_client.get("/inloggen")
        failed = offline_client.post("/inloggen", data={"email": user.email, "password": "fout",
                                                        "csrf_token": csrf_from(page.text)})
        assert failed.status_code == 400
    page = offline_client.get("/inloggen")
    locked = offline_client.post("/inloggen", data={"email": user.email, "password": PASSWORD,
                                                    "csrf_token": csrf_from(page.text)})
    assert locked.status_code == 400
    assert "Te veel mislukte pogingen" in locked.text


def test_login_redirect_stays_on_this_site(offline_client: Any) -> None:
    page = offline_client.get("/inloggen?volgende=//evil.example.org/")
    assert 'value="/inbox"' in page.text
