"""Benchmark (not a test): how fast a person's decision becomes a mail, alone and in a burst.

Against the embedded stack (Prefect server + worker from prefect.yaml, SMTP server on loopback):
  (a) staff action -> resulting mail received by the SMTP server, p50/p95 over N actions;
  (b) a burst of M actions submitted at once -> time until all resulting mails arrived;
  (c) that burst's transitions per second.
Goals (issue 2): p95 <= 2 s, burst of 100 drained in <= 60 s on 2 cores.

    .venv/bin/python bench/transitions.py [--single 30] [--burst 100] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import get_client  # noqa: E402

from cli.smtp_sink import start_sink  # noqa: E402
from cli.stack import Stack, free_port  # noqa: E402
from domain.states import Role  # noqa: E402
from models.case import find_case  # noqa: E402
from models.db import migrate, session_scope  # noqa: E402
from service.actions import act, open_case  # noqa: E402
from service.actors import Actor  # noqa: E402
from settings import get_settings  # noqa: E402
from tasks.runs import configured_api  # noqa: E402

TODAY = date(2026, 12, 1)
STAFF = Actor(Role.ASSOCIATION_STAFF, "Benchmark VvOCM")


class Arrivals:
    """When each mail reached the SMTP server, by outbox key."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def receive(self, message: EmailMessage) -> None:
        self.at[str(message["X-Herregistratie-Key"])] = time.monotonic()


def sample(i: int) -> dict[str, Any]:
    request = TODAY - timedelta(days=10)
    return {
        "kp_number": f"B{i:07d}", "name": f"Bench {i}", "email": f"bench{i}@example.org",
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


async def waiting_cases(numbers: list[str], action: str, timeout: float) -> None:
    """Until every case's run is suspended at `action` in Prefect (not only marked in our
    database), so the measurement starts from people acting on waiting cases."""
    deadline = time.monotonic() + timeout
    pending = set(numbers)
    async with get_client() as client:
        while pending and time.monotonic() < deadline:
            with session_scope() as session:
                cases = [find_case(session=session, ref=n) for n in pending]
            for case in cases:
                if case.awaiting_action != action or case.flow_run_id is None:
                    continue
                run = await client.read_flow_run(UUID(case.flow_run_id))
                if run.state is not None and run.state.is_paused():
                    pending.discard(case.number)
            await asyncio.sleep(0.5)
    if pending:
        raise TimeoutError(f"{len(pending)} cases never waited for {action}")


async def open_many(count: int, start: int) -> list[tuple[str, int]]:
    opened = []
    for i in range(start, start + count):
        outcome = await open_case(sample(i), actor=STAFF)
        opened.append((outcome.number, outcome.case_id))
    return opened


def mail_key(case_id: int) -> str:
    return f"{case_id}:advise-reopening:reopen_advice"


async def wait_mails(arrivals: Arrivals, keys: list[str], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(key in arrivals.at for key in keys):
            return max(arrivals.at[key] for key in keys)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{sum(k not in arrivals.at for k in keys)} mails did not arrive")


async def scenario(arrivals: Arrivals, single: int, burst: int) -> dict[str, Any]:
    t0 = time.monotonic()
    first = await open_many(single, 0)
    second = await open_many(burst, single)
    await waiting_cases([n for n, _ in first + second], "association_decision", 1200)
    setup = time.monotonic() - t0

    latencies = []
    for number, case_id in first:
        started = time.monotonic()
        await act(number, "association_decision", {"outcome": "advise"}, actor=STAFF)
        latencies.append(await wait_mails(arrivals, [mail_key(case_id)], 120) - started)

    started = time.monotonic()
    outcomes = await asyncio.gather(*(
        act(number, "association_decision", {"outcome": "advise"}, actor=STAFF)
        for number, _ in second
    ))
    submitted = time.monotonic() - started
    drained = await wait_mails(arrivals, [mail_key(c) for _, c in second], 1200) - started
    quantiles = statistics.quantiles(latencies, n=20)
    return {
        "setup_s": setup, "p50": statistics.median(latencies), "p95": quantiles[18],
        "max": max(latencies), "burst_submit_s": submitted, "burst_drain_s": drained,
        "burst_tps": burst / drained,
        "resumed_directly": sum(o.delivered for o in outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=30)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--postgres", action="store_true",
                        help="our database and Prefect's on the local PostgreSQL")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="herreg-bench-"))
    arrivals = Arrivals()
    smtp_port = free_port()
    sink = start_sink(data_dir / "mail", smtp_port, arrivals.receive)
    env = {"HERREG_ENVIRONMENT": "development", "HERREG_DATA_DIR": str(data_dir),
           "HERREG_TODAY": TODAY.isoformat(), "HERREG_SMTP__URL": f"smtp://127.0.0.1:{smtp_port}",
           "HERREG_PREFECT__AUTH_STRING": f"bench:{uuid.uuid4().hex}"}
    databases: list[str] = []
    if args.postgres:
        import psycopg2

        databases = [f"herreg_bench_{uuid.uuid4().hex[:8]}",
                     f"herreg_benchp_{uuid.uuid4().hex[:8]}"]
        admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            for name in databases:
                cursor.execute(f'CREATE DATABASE "{name}"')
        env["HERREG_DATABASE__URL"] = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{databases[0]}"
        env["HERREG_PREFECT__SERVER_DATABASE_URL"] = (
            f"postgresql+asyncpg://postgres@127.0.0.1:5432/{databases[1]}")
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    migrate()
    stack = Stack(settings=settings, port=free_port())
    os.environ["HERREG_PREFECT__API_URL"] = stack.api_url
    get_settings.cache_clear()
    print(f"Stack starten (gegevens in {data_dir}) ...", flush=True)
    try:
        stack.start()
        with configured_api():
            result = asyncio.run(scenario(arrivals, args.single, args.burst))
    finally:
        stack.stop()
        sink.stop()
        if databases:
            with admin.cursor() as cursor:
                for name in databases:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print()
    print("Settings")
    print(f"  case database       {'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"  Prefect database    {'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"  worker poll         {settings.prefect.query_seconds} s "
          "(PREFECT_WORKER_QUERY_SECONDS)")
    print(f"  pool concurrency    {settings.prefect.concurrency} flow processes")
    print("  result persistence  on (PREFECT_RESULTS_PERSIST_BY_DEFAULT)")
    print(f"  cores               {os.cpu_count()}")
    print()
    print(f"{'measure':<46}{'value':>12}")
    rows = [
        (f"setup: open {args.single + args.burst} cases until all wait (s)", result["setup_s"]),
        (f"(a) action -> mail, p50 over {args.single} (s)", result["p50"]),
        (f"(a) action -> mail, p95 over {args.single} (s)", result["p95"]),
        ("(a) action -> mail, max (s)", result["max"]),
        (f"(b) burst of {args.burst}: all submitted (s)", result["burst_submit_s"]),
        (f"(b) burst of {args.burst}: all mails received (s)", result["burst_drain_s"]),
        ("(c) burst transitions per second", result["burst_tps"]),
        ("    burst decisions resumed at once (count)", result["resumed_directly"]),
    ]
    for label, value in rows:
        print(f"{label:<46}{value:>12.2f}")


if __name__ == "__main__":
    main()
