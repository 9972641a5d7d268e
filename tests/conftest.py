"""Real parts for the tests: an aiosmtpd SMTP server on loopback, SQLite (or PostgreSQL) case
databases in temporary folders, and for the end-to-end tests the stack as `make demo` starts
it: its private PostgreSQL cluster, a Prefect server behind its API password and workers
serving prefect.yaml.

Most tests need no Prefect server: the `offline` fixture gives them their own database, and a
Prefect API address where nothing listens, so the service's hand-over to Prefect fails at once
and the test drives the case with the replay executor (tests/replay.py)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_URL,
    PREFECT_CLIENT_MAX_RETRIES,
    temporary_settings,
)

from cli.smtp_sink import start_sink
from domain.states import Role
from models.case import find_case
from models.db import migrate, read_session
from service.actors import Actor
from settings import get_settings
from stack.processes import Stack, free_port

TODAY = date(2026, 6, 1)
ASSOCIATION = Actor(Role.ASSOCIATION_STAFF, "Anne de Vries")
REGISTER = Actor(Role.REGISTER_STAFF, "Karel Jansen")
REVIEWER = Actor(Role.REVIEWER, "Dr. R. Beoordelaar")
PRACTITIONER = Actor(Role.PRACTITIONER, "Petra Oefen")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop what Prefect's event and log workers still hold. At interpreter exit they send it,
    each item with its retries, to API servers the tests have stopped by then: hundreds of
    items took CI past its time limit after every test had passed."""
    import queue

    from prefect._internal.concurrency.services import _active_services

    for service in list(_active_services):
        stop_sign = False
        with suppress(queue.Empty):
            while True:
                stop_sign |= service._queue.get_nowait() is None
                service._queue.task_done()
        if stop_sign:  # a service already told to stop must still see it
            service._queue.put_nowait(None)


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

    @staticmethod
    def key_of(message: EmailMessage) -> str:
        """The outbox key; a long one is folded onto a line of its own (hence the strip)."""
        return str(message["X-Herregistratie-Key"]).strip()

    def keys(self) -> Counter[str]:
        return Counter(self.key_of(m) for m in self.messages)

    def for_case(self, case_id: int) -> list[EmailMessage]:
        return [m for m in self.messages if self.key_of(m).startswith(f"{case_id}:")]

    def templates(self, case_id: int) -> list[str]:
        return [self.key_of(m).split(":")[2] for m in self.for_case(case_id)]

    def assert_each_once(self) -> None:
        twice = {key: n for key, n in self.keys().items() if n > 1}
        assert not twice, f"mails sent more than once: {twice}"


@contextmanager
def smtp_server(folder: Path) -> Iterator[Mailbox]:
    box = Mailbox(folder)
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="session")
def stack_mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    with smtp_server(tmp_path_factory.mktemp("eml")) as box:
        yield box


@pytest.fixture(scope="session")
def offline_mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    with smtp_server(tmp_path_factory.mktemp("eml-offline")) as box:
        yield box


@pytest.fixture
def mailbox(request: pytest.FixtureRequest) -> Mailbox:
    """The SMTP server of the database the test works on. Each database numbers its cases from
    1, so each has an SMTP server of its own, or the outbox keys of two databases would meet."""
    offline = {"offline", "offline_client", "offline_module"} & set(request.fixturenames)
    box: Mailbox = request.getfixturevalue("offline_mailbox" if offline else "stack_mailbox")
    return box


@contextmanager
def herreg_env(**values: str) -> Iterator[None]:
    """HERREG_ settings for the duration; the previous ones come back afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("HERREG_")}
    os.environ.update({f"HERREG_{k.upper()}": v for k, v in values.items()})
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            if key.startswith("HERREG_"):
                del os.environ[key]
        os.environ.update(saved)
        get_settings.cache_clear()


@contextmanager
def running_stack(data_dir: Path, *, database_url: str = "", prefect_database_url: str = "",
                  persist_task_results: bool = True, mailbox: Mailbox | None = None,
                  ) -> Iterator[Stack]:
    """A stack as `make demo` starts it, on its own private PostgreSQL cluster in `data_dir`
    (or on the databases given), its Prefect API behind a password, and this process's
    settings pointed at it (and at its SMTP server, unless the caller set one); the previous
    settings come back afterwards."""
    login = f"test:{uuid.uuid4().hex}"
    smtp = {"smtp__url": f"smtp://127.0.0.1:{mailbox.port}"} if mailbox else {}
    with herreg_env(environment="test", data_dir=str(data_dir), today=TODAY.isoformat(),
                    database__url=database_url, **smtp,
                    prefect__server_database_url=prefect_database_url,
                    prefect__auth_string=login):
        stack = Stack(settings=get_settings(),
                      log_dir=Path(os.environ.get("HERREG_TEST_LOGS", data_dir / "logs")),
                      persist_task_results=persist_task_results, durable=False)
        try:
            stack.start()
            stack.supervise()
            with herreg_env(prefect__api_url=stack.api_url), \
                    temporary_settings(updates={PREFECT_API_URL: stack.api_url,
                                                PREFECT_API_AUTH_STRING: login}):
                yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="session")
def offline_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("offline")
    url = f"sqlite:///{folder / 'cases.db'}"
    migrate(url)
    return url


@pytest.fixture(scope="session")
def prefect_down() -> Iterator[str]:
    """A Prefect API that fails every call (500): the client gives up at once, where a closed
    port costs it 1.5 s of connection retries and a 503 two seconds of back-off per call."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Unavailable(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()


@contextmanager
def offline_settings(database: str, data_dir: Path, prefect_api: str,
                     mailbox: Mailbox) -> Iterator[str]:
    """The offline database and its SMTP server, today fixed, and a Prefect API that is down
    (the hand-over to Prefect fails at once; decisions stay recorded, as when it is down)."""
    # Every test client comes from "testclient": its failed logins would add up over the
    # suite; the login throttle has its own test with its own client address.
    with herreg_env(environment="test", data_dir=str(data_dir), today=TODAY.isoformat(),
                    database__url=database, prefect__api_url=prefect_api,
                    smtp__url=f"smtp://127.0.0.1:{mailbox.port}",
                    web__max_failed_logins="100000", web__way_in_per_client="100000"), \
            temporary_settings(updates={PREFECT_API_URL: prefect_api,
                                        PREFECT_CLIENT_MAX_RETRIES: 0}):
        yield database


@pytest.fixture
def offline(offline_database: str, offline_mailbox: Mailbox, prefect_down: str,
            tmp_path: Path) -> Iterator[str]:
    """Settings for a test that needs no Prefect server (`offline_settings`). Yields the
    database URL."""
    with offline_settings(offline_database, tmp_path, prefect_down, offline_mailbox):
        yield offline_database


@pytest.fixture
def own_database(prefect_down: str, tmp_path: Path) -> Iterator[Mailbox]:
    """A database and SMTP server of the test's own, for tests that read every case or
    registration (the reminder pass, the reports): their counts are exact and case numbers
    start at 1. Yields the mailbox."""
    url = f"sqlite:///{tmp_path / 'own.db'}"
    migrate(url)
    with smtp_server(tmp_path / "smtp") as box, \
            offline_settings(url, tmp_path, prefect_down, box):
        yield box


@pytest.fixture(scope="module")
def offline_module(offline_database: str, offline_mailbox: Mailbox, prefect_down: str,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`offline` for a whole test module, for modules that build one world of cases once."""
    with offline_settings(offline_database, tmp_path_factory.mktemp("module"), prefect_down,
                          offline_mailbox):
        yield offline_database


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_mailbox: Mailbox) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("data"), mailbox=stack_mailbox) as stack:
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
    with read_session() as session:
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
    from models.db import session_scope
    from models.staff import StaffRole, StaffUser
    from service.accounts import hash_password

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


@contextmanager
def serving() -> Iterator[str]:
    """The web app served by uvicorn on loopback, in a thread of this process, with the
    settings in force now."""
    import contextvars

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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def web_url(stack: Stack) -> Iterator[str]:
    with serving() as url:
        yield url


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


@pytest.fixture
def offline_client(offline: str) -> Iterator[Any]:
    """A browser-less client of the web app on the offline database."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


# --- PostgreSQL: throwaway databases on the machine's server ---------------------------------

POSTGRES_ADMIN = os.environ.get("HERREG_TEST_POSTGRES_URL",
                                "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def postgres_database(driver: str = "psycopg2") -> Iterator[str]:
    """A database of our own on the machine's PostgreSQL, dropped afterwards; its URL."""
    import psycopg2

    name = f"herreg_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_ADMIN, connect_timeout=10)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    server = POSTGRES_ADMIN.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+{driver}://{server}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
