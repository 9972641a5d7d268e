"""Benchmark (not a test): an office at work. Ten KP staff, each with a login of their own,
act on ten different cases through the pages at the same moment, for ten rounds, against the
stack as `make demo` starts it (its private PostgreSQL, the Prefect server, the warm executor,
the web app as its own process).

Per click it measures the response (the POST and the page it redirects to: what the person
waits for) and the time until the case page shows the new state, with the next step's form
ready (our database, whose state the page shows, is watched every 0.1 s and the page asked
once it changed). The CPU each part of the stack spent per click shows where the time goes.
Errors are counted from the
responses (anything but the redirect to the case page) and from the stack's logs (tracebacks,
"database is locked", 5xx answers).

Each staff member takes a case through the KP steps (portfolio reopened, submission on the
practitioner's behalf, payment, an incomplete application, the completion, complete, reviewer
assigned) and then the next case. The cases are opened and the association's advice recorded
beforehand, untimed.

The last line: `office: 10 staff x 10 rounds, response max X s, new state p95 Y s, errors E`.

    .venv/bin/python bench/office.py [--postgres] [--staff 10] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from measure import cpu_seconds, q95  # noqa: E402

from cli.smtp_sink import start_sink  # noqa: E402
from domain.states import Role  # noqa: E402
from models.case import find_case  # noqa: E402
from models.db import read_session  # noqa: E402
from service.actions import act, open_case  # noqa: E402
from service.actors import Actor  # noqa: E402
from settings import get_settings  # noqa: E402
from stack.processes import Stack, free_port  # noqa: E402
from tasks.runs import configured_api  # noqa: E402
from tests.conftest import PASSWORD, make_staff  # noqa: E402

TODAY = date(2026, 12, 1)
VVOCM = Actor(Role.ASSOCIATION_STAFF, "Benchmark VvOCM")
# The KP steps a case takes through the staff pages, each with what the form sends.
STEPS: list[tuple[str, dict[str, str]]] = [
    ("portfolio_reopened", {"reopened_on": str(TODAY)}),
    ("submit", {"submitted_on": str(TODAY)}),
    ("payment_received", {"paid_on": str(TODAY)}),
    ("completeness", {"complete": "nee", "missing": "De verklaring van de werkgever."}),
    ("completion_supplied", {"supplied_on": str(TODAY), "description": "Verklaring erbij."}),
    ("completeness", {"complete": "ja"}),
    ("assign_reviewer", {"reviewer_name": "Dr. B. Enchmark",
                         "reviewer_email": "beoordelaar@example.org"}),
]
POLL = 0.1
LOG_ERRORS = re.compile(r"Traceback|database is locked|\" 5\d\d |status_code=5\d\d")


def say(text: str) -> None:
    print(text, flush=True)


def sample(i: int) -> dict[str, Any]:
    request = TODAY - timedelta(days=10)
    return {
        "kp_number": f"{8000000 + i}", "name": f"Kantoor {i}", "email": f"kantoor{i}@example.org",
        "member": True, "specialisation": "KOT", "request_date": str(request),
        "previous_period_start": str(request.replace(year=request.year - 6)),
        "evidence": {
            "activities": [{"on": str(request - timedelta(days=30 + k)), "points": "30",
                            "category": c, "accredited": True}
                           for k, c in enumerate(["course", "other", "course"])],
            "work_hours": [{"start": str(request.replace(year=request.year - 3)),
                            "end": str(request), "hours": "900"}],
        },
    }


def awaiting(number: str) -> str | None:
    with read_session() as session:
        return find_case(session=session, ref=number).awaiting_key


async def all_awaiting(numbers: list[str], pause_key: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while any(awaiting(n) != pause_key for n in numbers):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cases did not reach {pause_key}")
        await asyncio.sleep(0.5)


@dataclass
class Clerk:
    """One staff member in a browser of their own (a cookie jar), with their queue of cases."""

    email: str
    cases: list[str]
    client: httpx.AsyncClient
    step: int = 0
    responses: list[float] = field(default_factory=list)
    visible: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def case(self) -> str:
        return self.cases[self.step // len(STEPS)]

    async def login(self) -> None:
        page = await self.client.get("/inloggen")
        await self.client.post("/inloggen", data={
            "email": self.email, "password": PASSWORD, "csrf_token": csrf(page.text),
            "volgende": "/inbox"})

    async def ready(self) -> tuple[str, str]:
        """The case page as the person has it open before clicking: its form's token and
        the step it shows."""
        page = await self.client.get(f"/zaken/{self.case}")
        key = re.search(r'name="pause_key" value="([^"]*)"', page.text)
        if page.status_code != 200 or key is None:
            raise RuntimeError(f"{self.case}: no step to act on ({page.status_code})")
        return csrf(page.text), key.group(1)

    async def click(self, token: str, pause_key: str, timeout: float) -> None:
        action, values = STEPS[self.step % len(STEPS)]
        number = self.case
        started = time.monotonic()
        try:
            response = await self.client.post(
                f"/zaken/{number}/acties/{action}",
                data={**values, "pause_key": pause_key, "csrf_token": token},
                follow_redirects=True)
        except httpx.HTTPError as err:
            self.errors.append(f"{number} {action}: {type(err).__name__}")
            return
        self.responses.append(time.monotonic() - started)
        if response.status_code != 200 or f"/zaken/{number}" not in str(response.url):
            self.errors.append(f"{number} {action}: {response.status_code}")
            return
        self.step += 1
        # The page shows what the database holds: watch that (it costs the web app nothing)
        # and confirm on the page once it changed.
        while time.monotonic() - started < timeout:
            if awaiting(number) != pause_key:
                page = (await self.client.get(f"/zaken/{number}")).text
                key = re.search(r'name="pause_key" value="([^"]*)"', page)
                if (key is not None and key.group(1) != pause_key) or (
                        key is None and self.step % len(STEPS) == 0):
                    self.visible.append(time.monotonic() - started)
                    return
            await asyncio.sleep(POLL)
        self.errors.append(f"{number} {action}: new state not shown in {timeout:.0f} s")


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if found is None:
        raise RuntimeError("page without a form")
    return found.group(1)


async def prepare(staff: int, rounds: int) -> list[list[str]]:
    """Cases enough for each clerk's rounds, advised by VvOCM, waiting for KP (untimed)."""
    per_clerk = -(-rounds // len(STEPS))
    numbers = []
    for start in range(0, staff * per_clerk, 10):
        batch = await asyncio.gather(*(open_case(sample(i), actor=VVOCM) for i in range(
            start, min(start + 10, staff * per_clerk))))
        numbers += [outcome.number for outcome in batch]
    await all_awaiting(numbers, "association-decision")
    for number in numbers:
        await act(number, "association_decision", {"outcome": "advise"}, actor=VVOCM)
    await all_awaiting(numbers, "portfolio-reopened")
    return [numbers[i * per_clerk:(i + 1) * per_clerk] for i in range(staff)]


async def office(args: argparse.Namespace, stack: Stack, web_url: str) -> int:
    queues = await prepare(args.staff, args.rounds)
    clerks = []
    for queue in queues:
        user = make_staff("register_staff")
        clerk = Clerk(user.email, queue, httpx.AsyncClient(base_url=web_url, timeout=120))
        await clerk.login()
        clerks.append(clerk)
    say(f"{len(clerks)} medewerkers ingelogd; {args.rounds} rondes, elk tegelijk op een eigen "
        "aanvraag")
    log_errors_before = count_log_errors(stack)
    cpu_before = {name: cpu_seconds(child.process.pid) for name, child in stack.children.items()}
    for round_number in range(1, args.rounds + 1):
        opened = await asyncio.gather(*(clerk.ready() for clerk in clerks))
        await asyncio.gather(*(clerk.click(token, key, args.timeout)
                               for clerk, (token, key) in zip(clerks, opened, strict=True)))
        round_responses = [c.responses[-1] for c in clerks if c.responses]
        say(f"  ronde {round_number:>2}: antwoord max {max(round_responses):.2f} s, nieuwe "
            f"stand max {max((c.visible[-1] for c in clerks if c.visible), default=0):.2f} s")
    for clerk in clerks:
        await clerk.client.aclose()
    responses = [t for c in clerks for t in c.responses]
    visible = [t for c in clerks for t in c.visible]
    errors = [e for c in clerks for e in c.errors]
    log_errors = count_log_errors(stack) - log_errors_before
    clicks = max(1, sum(len(c.visible) for c in clerks))
    spent = {name: (cpu_seconds(child.process.pid) - cpu_before.get(name, 0)) / clicks
             for name, child in stack.children.items()}
    say("")
    say("CPU seconds per click: " + ", ".join(f"{name} {cpu:.3f}" for name, cpu in
                                               sorted(spent.items(), key=lambda i: -i[1])))
    say(f"clicks {len(responses)}; response p50 {statistics.median(responses):.2f} s, p95 "
        f"{q95(responses):.2f} s, max {max(responses):.2f} s")
    say(f"new state shown p50 {statistics.median(visible):.2f} s, p95 {q95(visible):.2f} s, "
        f"max {max(visible):.2f} s")
    say(f"errors: responses {len(errors)}, stack logs {log_errors}")
    for error in errors[:10]:
        say(f"  {error}")
    say(f"office: {args.staff} staff x {args.rounds} rounds, response max {max(responses):.2f} s, "
        f"new state p95 {q95(visible):.2f} s, errors {len(errors) + log_errors}")
    return 0


def count_log_errors(stack: Stack) -> int:
    return sum(len(LOG_ERRORS.findall(log.read_text(errors="replace")))
               for log in stack.logs.glob("*.log"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--staff", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds a click may take to show its new state")
    parser.add_argument("--postgres", action="store_true",
                        help="our database and Prefect's on the machine's PostgreSQL "
                        "(default: the stack's private cluster, as `make demo` runs)")
    args = parser.parse_args()
    # A killed benchmark still stops its stack (and drops its databases).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    data_dir = Path(tempfile.mkdtemp(prefix="herreg-office-"))
    smtp_port = free_port()
    sink = start_sink(data_dir / "mail", smtp_port)
    os.environ.update({
        "HERREG_ENVIRONMENT": "development", "HERREG_DATA_DIR": str(data_dir),
        "HERREG_TODAY": TODAY.isoformat(), "HERREG_SMTP__URL": f"smtp://127.0.0.1:{smtp_port}",
        "HERREG_PREFECT__AUTH_STRING": f"office:{uuid.uuid4().hex}",
        "HERREG_WEB__PORT": str(free_port()),
        "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "false"})
    cleanup: list[Callable[[], None]] = [sink.stop]
    if args.postgres:
        cleanup.append(machine_databases())
    get_settings.cache_clear()
    stack = Stack(settings=get_settings())
    say(f"Stack starten (gegevens en logs in {data_dir}) ...")
    code = 1
    try:
        stack.start()
        web_url = stack.start_web()
        stack.supervise()
        os.environ.update({k: v for k, v in stack.env().items() if k.startswith("HERREG_")})
        get_settings.cache_clear()
        with configured_api():
            code = asyncio.run(office(args, stack, web_url))
    finally:
        stack.stop()
        for step in cleanup:
            step()
    sys.exit(code)


def machine_databases() -> Callable[[], None]:
    """Throwaway databases on the machine's PostgreSQL for ours and Prefect's; the function
    that drops them."""
    import psycopg2

    names = [f"herreg_office_{uuid.uuid4().hex[:8]}", f"herreg_officep_{uuid.uuid4().hex[:8]}"]
    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f'CREATE DATABASE "{name}"')
    os.environ["HERREG_DATABASE__URL"] = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{names[0]}"
    os.environ["HERREG_PREFECT__SERVER_DATABASE_URL"] = (
        f"postgresql+asyncpg://postgres@127.0.0.1:5432/{names[1]}")

    def drop() -> None:
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return drop


if __name__ == "__main__":
    main()
