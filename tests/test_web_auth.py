"""Staff login (offline database): hashed passwords, CSRF on the form, lockout after repeated
failures, and logout ending the login on the server."""

from __future__ import annotations

from typing import Any

from domain import messages as m
from tests.conftest import PASSWORD, csrf_from, herreg_env, login, make_staff


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


def test_failed_logins_throttle_the_client_not_the_account(offline: str) -> None:
    """Seen before: five wrong passwords locked the account for 15 minutes, so anyone could
    lock anyone out, and the message told which addresses were accounts. Now the client that
    fails waits; the person logs in from elsewhere; known and unknown addresses read alike."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    user = make_staff("association_staff")
    with herreg_env(web__max_failed_logins="5"), \
            TestClient(create_app(), client=("203.0.113.7", 40000)) as attacker, \
            TestClient(create_app(), client=("198.51.100.2", 40001)) as colleague:
        answers = []
        for email in [user.email, "niemand@example.org"] * 3:
            page = attacker.get("/inloggen")
            answer = attacker.post("/inloggen", data={
                "email": email, "password": "fout", "csrf_token": csrf_from(page.text)})
            answers.append((answer.status_code, m.LOGIN_FAILED in answer.text,
                            "Te veel" in answer.text))
        assert answers[:5] == [(400, True, False)] * 5
        assert answers[5] == (400, False, True)  # the sixth try: this client waits
        page = attacker.get("/inloggen")
        still = attacker.post("/inloggen", data={"email": user.email, "password": PASSWORD,
                                                 "csrf_token": csrf_from(page.text)})
        assert still.status_code == 400 and m.LOGIN_THROTTLED.format(minutes=15) in still.text
        login(colleague, user)  # the account itself is not locked
        assert colleague.get("/inbox").status_code == 200


def test_login_redirect_stays_on_this_site(offline_client: Any) -> None:
    page = offline_client.get("/inloggen?volgende=//evil.example.org/")
    assert 'value="/inbox"' in page.text
