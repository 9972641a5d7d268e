"""Real parts for the tests: a Prefect server with a worker serving prefect.yaml, an aiosmtpd
SMTP server on loopback, and a SQLite (or PostgreSQL) case database in a temporary folder."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from cli.smtp_sink import start_sink
from cli.stack import Stack, free_port
from domain.states import Role
from models.case import find_case
from models.db import migrate, session_scope
from service.actions import Actor
from settings import get_settings

TODAY = date(2026, 6, 1)
ASSOCIATION = Actor(Role.ASSOCIATION_STAFF, "Anne de Vries")
REGISTER = Actor(Role.REGISTER_STAFF, "Karel Jansen")
REVIEWER = Actor(Role.REVIEWER, "Dr. R. Beoordelaar")
PRACTITIONER = Actor(Role.PRACTITIONER, "Petra Oefen")


class Mailbox:
    """What the SMTP server received, by outbox key; `stop()`/`start()` take SMTP down and up."""

    def __init__(self, folder: Path) -> None:
        self.messages: list[EmailMessage] = []
        self.folder = folder
        self.port = free_port()
        self.controller: Any = None

    def start(self) -> None:
        self.controller = start_sink(self.folder, self.port, self.receive)

    def stop(self) -> None:
        self.controller.stop()

    def receive(self, message: EmailMessage) -> None:
        self.messages.append(message)

    def keys(self) -> Counter[str]:
        return Counter(str(m["X-Herregistratie-Key"]) for m in self.messages)

    def for_case(self, case_id: int) -> list[EmailMessage]:
        return [m for m in self.messages
                if str(m["X-Herregistratie-Key"]).startswith(f"{case_id}:")]

    def templates(self, case_id: int) -> list[str]:
        return [str(m["X-Herregistratie-Key"]).split(":")[2] for m in self.for_case(case_id)]

    def assert_each_once(self) -> None:
        twice = {key: n for key, n in self.keys().items() if n > 1}
        assert not twice, f"mails sent more than once: {twice}"


@pytest.fixture(scope="session")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    box = Mailbox(tmp_path_factory.mktemp("eml"))
    box.start()
    os.environ["HERREG_SMTP__URL"] = f"smtp://127.0.0.1:{box.port}"
    yield box
    box.stop()


@contextmanager
def running_stack(data_dir: Path, *, database_url: str, prefect_database_url: str = "",
                  persist_task_results: bool = True) -> Iterator[Stack]:
    """Point this process's settings at a fresh case database and start a stack for it;
    the previous settings come back afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("HERREG_")}
    os.environ.update({
        "HERREG_ENVIRONMENT": "test",
        "HERREG_DATA_DIR": str(data_dir),
        "HERREG_TODAY": TODAY.isoformat(),
        "HERREG_DATABASE__URL": database_url,
        "HERREG_PREFECT__SERVER_DATABASE_URL": prefect_database_url,
    })
    get_settings.cache_clear()
    migrate()
    stack = Stack(settings=get_settings(), port=free_port(),
                  log_dir=Path(os.environ.get("HERREG_TEST_LOGS", data_dir / "logs")),
                  persist_task_results=persist_task_results)
    os.environ["HERREG_PREFECT__API_URL"] = stack.api_url
    get_settings.cache_clear()
    try:
        stack.start()
        with temporary_settings(updates={PREFECT_API_URL: stack.api_url}):
            yield stack
    finally:
        stack.stop()
        os.environ.update(saved)
        for key in set(os.environ) - set(saved):
            if key.startswith("HERREG_"):
                del os.environ[key]
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("data")
    with running_stack(data_dir, database_url=f"sqlite:///{data_dir / 'cases.db'}") as stack:
        yield stack


async def wait_until(predicate: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def case_row(ref: str | int) -> Any:
    with session_scope() as session:
        return find_case(session=session, ref=str(ref))


async def awaiting(ref: str | int, action: str, timeout: float = 60) -> Any:
    """Wait until the case's run waits for `action`."""
    return await wait_until(
        lambda: (c := case_row(ref)).awaiting_action == action and c,
        timeout, f"case {ref} to await {action}",
    )


async def settled(ref: str | int, state: str, timeout: float = 60) -> Any:
    return await wait_until(lambda: (c := case_row(ref)).state == state and c, timeout,
                            f"case {ref} to reach {state}")


# --- web -------------------------------------------------------------------------------------

PASSWORD = "een-lang-wachtwoord"
_staff_counter = iter(range(1, 100000))


def make_staff(role: str, *, name: str | None = None, password: str = PASSWORD) -> Any:
    """A staff account (role: association_staff, register_staff or admin)."""
    from models.staff import StaffRole, StaffUser
    from web.security import hash_password

    n = next(_staff_counter)
    with session_scope() as session:
        user = StaffUser(email=f"staff{n}-{role}@example.org", name=name or f"Medewerker {n}",
                         role=StaffRole(role), password_hash=hash_password(password))
        session.add(user)
        session.flush()
        return user


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no form with a CSRF token"
    return found.group(1)


def login(client: Any, user: Any, password: str = PASSWORD) -> None:
    page = client.get("/inloggen")
    response = client.post("/inloggen", data={"email": user.email, "password": password,
                                              "csrf_token": csrf_from(page.text),
                                              "volgende": "/inbox"}, follow_redirects=False)
    assert response.status_code == 303, response.text


@pytest.fixture
def client(stack: Stack) -> Iterator[Any]:
    """A browser-less client of the web app against the test stack (its own cookie jar)."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


# --- real browser ----------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def web_url(stack: Stack) -> Iterator[str]:
    """The web app served by uvicorn on loopback, in a thread of this process."""
    import contextvars
    import threading

    import uvicorn

    from web.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                           log_level="warning"))
    # A thread does not inherit this context (the stack's Prefect API URL); give it a copy.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(server.run,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
async def browser() -> Any:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ])
        yield chromium
        await chromium.close()


async def screenshot(page: Any, name: str) -> None:
    """Kept as a test artefact under test-artifacts/screenshots/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def local_link(url: str, web_url: str) -> str:
    """Links in mails point at the configured base URL; the test server has its own port."""
    return web_url + "/" + url.split("/", 3)[3]
