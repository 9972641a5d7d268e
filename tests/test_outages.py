"""A database that is down reaches every caller as one clear Dutch sentence: the API as a 503
in JSON, the pages as a 503 page, the command line as one line and exit code 2; never a bare
500 or a traceback. A configuration without secrets is refused the same way, and a Prefect
server that hangs holds a click for the hand-over time only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prefect.settings import PREFECT_API_URL, temporary_settings

from adapters.links import make_token
from domain import messages as m
from models.case import get_case
from models.db import migrate, read_session, session_scope
from models.decision import get_decision
from service.accounts import new_api_token
from service.actions import act, open_case
from stack.processes import free_port
from tests.conftest import (
    ASSOCIATION,
    TODAY,
    csrf_from,
    herreg_env,
    make_staff,
    postgres_database,
)
from tests.factories import request
from tests.replay import run_case

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
        assert response.json() == {"detail": m.DATABASE_UNAVAILABLE if method == "GET"
                                   else m.NOTHING_RECORDED}
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
    assert login.status_code == 503 and m.NOTHING_RECORDED in login.text


async def test_a_click_that_gets_no_connection_in_time_is_told_nothing_was_recorded(
        offline: str, tmp_path: Path) -> None:
    """Every connection of the pool taken (a burst): the click waits `pool_timeout`, then a
    Dutch 503 that says nothing was recorded, which is true; never a 500. (A database of its
    own, whose case numbers start at 1 again: its mail goes to files.)"""
    from sqlalchemy import text

    from models.db import get_engine
    from web.app import create_app

    with postgres_database() as url, herreg_env(
            database__url=url, database__pool_size="1", database__max_overflow="0",
            database__pool_timeout="0.5", smtp__url=f"file://{tmp_path / 'mail'}"):
        migrate(url)
        opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
        assert await run_case(opened.case_id) == "association-decision"
        user = make_staff("association_staff")
        token = new_api_token(staff_id=user.id, name="druk")
        with TestClient(create_app(), raise_server_exceptions=False) as client, \
                get_engine().connect() as held:
            held.execute(text("SELECT 1"))  # the pool's only connection, kept
            started = time.monotonic()
            response = client.post(
                f"/api/v1/cases/{opened.number}/association_decision",
                json={"outcome": "advise"}, headers={"Authorization": f"Bearer {token}"})
            assert time.monotonic() - started < 10
        assert response.status_code == 503, response.text
        assert response.json() == {"detail": m.NOTHING_RECORDED}
        with read_session() as session:
            assert get_decision(session=session, case_id=opened.case_id,
                                pause_key="association-decision") is None


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
    helped = subprocess.run([CLI, "sweep", "--help"], capture_output=True, text=True,
                            timeout=120, env={**clean, "HERREG_DATA_DIR": str(tmp_path)})
    assert helped.returncode == 0 and "--op" in helped.stdout, helped.stderr  # help needs none


@pytest.fixture
def prefect_hangs() -> Iterator[str]:
    """A Prefect API that takes its requests and answers none of them for a minute (a server
    that is overloaded or stuck)."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stopping.is_set():
            with suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    stopping.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


async def test_a_click_waits_for_a_hanging_prefect_server_only_briefly(
        offline: str, prefect_hangs: str) -> None:
    """The decision is recorded and the person hears so within the hand-over time; the sweep's
    reconciler delivers it later. Before, the API call hung until its client gave up."""
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    assert await run_case(opened.case_id) == "association-decision"
    with session_scope() as session:
        get_case(session=session, case_id=opened.case_id).flow_run_id = str(uuid.uuid4())
    with herreg_env(prefect__handover_seconds="1"), \
            temporary_settings(updates={PREFECT_API_URL: prefect_hangs}):
        started = time.monotonic()
        outcome = await act(opened.number, "association_decision", {"outcome": "advise"},
                            actor=ASSOCIATION)
        waited = time.monotonic() - started
    assert (outcome.delivered, outcome.message) == (False, m.RECEIVED_QUEUED)
    assert waited < 20, f"the click waited {waited:.0f} s for a server that never answers"
    with read_session() as session:
        assert get_decision(session=session, case_id=opened.case_id,
                            pause_key="association-decision") is not None
