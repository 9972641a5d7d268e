"""Errors a reader can meet speak Dutch: unknown pages, wrong methods and our own bugs."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from web.app import DEFAULT_DETAILS, NOT_FOUND, create_app


def test_unknown_pages_and_methods_answer_in_dutch(offline: Any) -> None:
    client = TestClient(create_app())
    page = client.get("/bestaat-niet")
    assert page.status_code == 404 and "Niet gevonden" in page.text and NOT_FOUND in page.text
    assert client.get("/api/v1/bestaat-niet").json() == {"detail": NOT_FOUND}
    wrong = client.post("/")
    assert wrong.status_code == 405 and DEFAULT_DETAILS[405] in wrong.text


def test_a_bug_gives_a_dutch_page_not_a_traceback(offline: Any) -> None:
    app = create_app()

    @app.get("/kapot")
    def broken() -> None:
        raise RuntimeError("internal detail")

    page = TestClient(app, raise_server_exceptions=False).get("/kapot")
    assert page.status_code == 500
    assert DEFAULT_DETAILS[500] in page.text and "internal detail" not in page.text
    assert 'lang="nl"' in page.text
