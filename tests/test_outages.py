"""A database that is down reaches every caller as one clear Dutch sentence: the API as a 503
in JSON, the pages as a 503 page, the command line as one line and exit code 2; never a bare
500 or a traceback. A configuration without secrets is refused the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli.stack import free_port
from domain import messages as m
from tasks.links import make_token
from tests.conftest import csrf_from, herreg_env

CLI = str(Path(sys.executable).parent / "herregistratie")


@pytest.fixture
def database_down(offline: str) -> Iterator[str]:
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/herregistratie"
    with herreg_env(database__url=url):
        yield url


@pytest.fixture
def app_client(database_down: str) -> Iterator[TestClient]:
    from web.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def test_the_api_answers_503_in_dutch_json_when_the_database_is_down(
        app_client: TestClient) -> None:
    for method, path, body in [
        ("GET", "/api/v1/cases", None),
        ("GET", "/api/v1/cases/HR-2026-00001", None),
        ("POST", "/api/v1/cases/HR-2026-00001/association_decision", {"outcome": "advise"}),
    ]:
        response = app_client.request(method, path, json=body,
                                      headers={"Authorization": "Bearer hr_token"})
        assert response.status_code == 503, (path, response.text)
        assert response.json() == {"detail": m.DATABASE_UNAVAILABLE}
        assert response.headers["Retry-After"]


def test_pages_show_a_dutch_503_page_when_the_database_is_down(app_client: TestClient) -> None:
    status = make_token("status", case=1, role="practitioner")
    for path in ("/register", f"/status/{status}"):
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 503, (path, response.status_code)
        assert m.DATABASE_UNAVAILABLE in response.text
    form = app_client.get("/inloggen")
    login = app_client.post("/inloggen", data={
        "email": "kp@example.org", "password": "een-lang-wachtwoord",
        "csrf_token": csrf_from(form.text)}, follow_redirects=False)
    assert login.status_code == 503 and m.DATABASE_UNAVAILABLE in login.text


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_the_command_line_says_one_dutch_line_when_the_database_is_down(
        database_down: str) -> None:
    for args in (["list"], ["show", "HR-2026-00001"],
                 ["act", "HR-2026-00001", "association_decision", "--set", "outcome=advise"]):
        done = run_cli(*args)
        assert done.returncode == 2, done
        assert done.stderr.strip() == f"Fout: {m.DATABASE_UNAVAILABLE}"
        assert "Traceback" not in done.stdout + done.stderr


def test_production_without_secrets_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HERREG_")}
    done = subprocess.run([CLI, "list"], capture_output=True, text=True, timeout=120,
                          env={**clean, "HERREG_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Fout: Onvolledige configuratie:")
    assert "HERREG_WEB__SESSION_SECRET" in lines[0] and "HERREG_ENVIRONMENT=development" \
        in lines[0]
