"""Benchmark (not a test): how fast a person's decision becomes a mail, under Prefect's stock
process worker and under the warm executor, back to back on one stack and one data set.

Per mode:
  (a) action -> resulting mail at the SMTP server, p50/p95 over N single actions, with where
      the time goes (Prefect's state times and the step's own task);
  (b) a burst of M actions at once, drained to the last mail; (c) its transitions per second;
  (d) CPU seconds per transition of the executor (worker and its processes) and the server.
Then, warm only: executor RSS over many transitions; and with 10,000 open cases (generated)
the staff inbox p95 and the RSS of the executor and the Prefect server.

The last line: `warm/stock p95 ratio: X; burst speedup: Y`.

    .venv/bin/python bench/transitions.py [--quick] [--postgres] [--single 30] [--burst 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import cpu_seconds, q95, rss_mb  # noqa: E402
from prefect import get_client  # noqa: E402
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId  # noqa: E402
from prefect.states import Paused  # noqa: E402

from cli.smtp_sink import start_sink  # noqa: E402
from domain.states import CaseState, Role  # noqa: E402
from models.case import Case, find_case  # noqa: E402
from models.db import session_scope  # noqa: E402
from models.practitioner import Practitioner  # noqa: E402
from service.actions import act, open_case  # noqa: E402
from service.actors import Actor  # noqa: E402
from settings import get_settings  # noqa: E402
from stack.processes import Stack, free_port  # noqa: E402
from tasks.runs import configured_api  # noqa: E402

TODAY = date(2026, 12, 1)
STAFF = Actor(Role.ASSOCIATION_STAFF, "Benchmark VvOCM")
KP = Actor(Role.REGISTER_STAFF, "Benchmark KP")
PRACTITIONER = Actor(Role.PRACTITIONER, "Benchmark")
# The steps a case takes with simple input, each ending in a mail with this key suffix.
WALK = [("association_decision", {"outcome": "advise"}, STAFF, "advise-reopening:reopen_advice"),
        ("portfolio_reopened", {"reopened_on": str(TODAY)}, KP,
         "confirm-reopening:portfolio_reopened"),
        ("submit", {"submitted_on": str(TODAY)}, PRACTITIONER,
         "invoice-application:invoice_issued"),
        ("payment_received", {"paid_on": str(TODAY)}, KP, "confirm-payment:payment_confirmed")]


def say(text: str) -> None:
    print(text, flush=True)


class Arrivals:
    """When each mail reached the SMTP server, by outbox key."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.wall: dict[str, float] = {}

    def receive(self, message: EmailMessage) -> None:
        key = str(message["X-Herregistratie-Key"])
        self.at[key], self.wall[key] = time.monotonic(), time.time()


def sample(i: int) -> dict[str, Any]:
    request = TODAY - timedelta(days=10)
    return {
        "kp_number": f"{9000000 + i}", "name": f"Bench {i}", "email": f"bench{i}@example.org",
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


def mail_key(case_id: int, step: int = 0) -> str:
    return f"{case_id}:{WALK[step][3]}"


def case_of(number: str) -> Case:
    with session_scope() as session:
        case = find_case(session=session, ref=number)
        session.expunge(case)
        return case


async def waiting(numbers: list[str], action: str, timeout: float) -> None:
    """Until every case's run is suspended at `action` in Prefect (not only marked in our
    database), so a measurement starts from people acting on waiting cases."""
    deadline = time.monotonic() + timeout
    pending = set(numbers)
    async with get_client() as client:
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} cases never waited for {action}")
            cases = [case_of(n) for n in pending]
            ready = {c.flow_run_id: c.number for c in cases
                     if c.awaiting_action == action and c.flow_run_id}
            for start in range(0, len(ready), 200):
                ids = [UUID(i) for i in list(ready)[start:start + 200]]
                runs = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids))
                pending -= {ready[str(r.id)] for r in runs if r.state and r.state.is_paused()}
            await asyncio.sleep(0.5)


async def open_many(first: int, count: int) -> list[tuple[str, int]]:
    """Ten at a time, as a busy office would."""
    opened = []
    for start in range(first, first + count, 10):
        outcomes = await asyncio.gather(*(open_case(sample(i), actor=STAFF)
                                          for i in range(start, min(start + 10, first + count))))
        opened += [(outcome.number, outcome.case_id) for outcome in outcomes]
        if len(opened) % 50 == 0:
            say(f"  {len(opened)}/{count} aanvragen geopend")
    return opened


async def wait_mails(arrivals: Arrivals, keys: list[str], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(key in arrivals.at for key in keys):
            return max(arrivals.at[key] for key in keys)
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{sum(k not in arrivals.at for k in keys)} mails did not arrive")


@dataclass
class Mode:
    name: str
    latencies: list[float] = field(default_factory=list)
    segments: dict[str, list[float]] = field(default_factory=dict)
    burst_drain: float = 0.0
    burst_tps: float = 0.0
    executor_cpu: float = 0.0
    server_cpu: float = 0.0


async def breakdown(flow_run_id: str, clicked: float, mailed: float) -> dict[str, float]:
    """Where one transition's time went, from Prefect's state times and the step's task."""
    async with get_client() as client:
        states = await client.read_flow_run_states(UUID(flow_run_id))
        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    after = [s for s in states if s.timestamp.timestamp() >= clicked - 0.5]
    at = {s.name: s.timestamp.timestamp() for s in after}
    step = [t for t in tasks if t.name.startswith("advise_reopening") and t.start_time]
    if not {"Resuming", "Pending", "Running"} <= at.keys() or not step:
        return {}
    begun = step[0].start_time.timestamp() if step[0].start_time else at["Running"]
    ended = step[0].end_time.timestamp() if step[0].end_time else begun
    return {
        "click -> resumed (our transaction, resume call)": at["Resuming"] - clicked,
        "resumed -> claimed (Pending)": at["Pending"] - at["Resuming"],
        "claimed -> Running (start of execution)": at["Running"] - at["Pending"],
        "Running -> step begins (replay of earlier steps)": begun - at["Running"],
        "step task (our transaction)": ended - begun,
        "step done -> mail at SMTP server": mailed - ended,
    }


async def measure(mode: Mode, stack: Stack, arrivals: Arrivals, single: list[tuple[str, int]],
                  burst: list[tuple[str, int]]) -> None:
    say(f"[{mode.name}] {len(single)} losse acties ...")
    for number, case_id in single:
        flow_run_id = case_of(number).flow_run_id or ""
        clicked, started = time.time(), time.monotonic()
        await act(number, "association_decision", {"outcome": "advise"}, actor=STAFF)
        mode.latencies.append(await wait_mails(arrivals, [mail_key(case_id)], 120) - started)
        parts = await breakdown(flow_run_id, clicked, arrivals.wall[mail_key(case_id)])
        for label, seconds in parts.items():
            mode.segments.setdefault(label, []).append(seconds)
    worker, server = stack.children["worker"].process.pid, \
        stack.children["prefect-server"].process.pid
    cpu_before = cpu_seconds(worker), cpu_seconds(server)
    say(f"[{mode.name}] burst van {len(burst)} acties ...")
    started = time.monotonic()
    await asyncio.gather(*(act(number, "association_decision", {"outcome": "advise"},
                               actor=STAFF) for number, _ in burst))
    mode.burst_drain = await wait_mails(arrivals, [mail_key(c) for _, c in burst],
                                        1800) - started
    mode.burst_tps = len(burst) / mode.burst_drain
    mode.executor_cpu = (cpu_seconds(worker) - cpu_before[0]) / len(burst)
    mode.server_cpu = (cpu_seconds(server) - cpu_before[1]) / len(burst)
    say(f"[{mode.name}] action -> mail p50 {statistics.median(mode.latencies):.2f} s, p95 "
        f"{q95(mode.latencies):.2f} s; burst drained in {mode.burst_drain:.1f} s "
        f"({mode.burst_tps:.2f}/s); CPU per transition: executor {mode.executor_cpu:.3f} s, "
        f"server {mode.server_cpu:.3f} s")


async def walk_for_memory(stack: Stack, arrivals: Arrivals, cases: list[tuple[str, int]],
                          ) -> list[tuple[int, float]]:
    """Every case through the steps of WALK (4 transitions each), ten at a time; the executor's
    RSS ten times along the way."""
    worker = stack.children["worker"].process.pid
    samples = [(0, rss_mb(worker))]
    done, every = 0, max(10, len(cases) * len(WALK) // 10)

    async def walk(number: str, case_id: int) -> None:
        nonlocal done
        for step, (action, data, actor, _) in enumerate(WALK):
            while case_of(number).awaiting_action != action:
                await asyncio.sleep(0.05)
            await act(number, action, data, actor=actor)
            await wait_mails(arrivals, [mail_key(case_id, step)], 300)
            done += 1
            if done % every == 0:
                samples.append((done, rss_mb(worker)))
                say(f"  {done} overgangen, executor {samples[-1][1]:.0f} MB")

    for start in range(0, len(cases), 10):
        await asyncio.gather(*(walk(n, c) for n, c in cases[start:start + 10]))
    return samples


def generate_open_cases(run_ids: list[str]) -> None:
    """Open cases waiting for VvOCM, one per suspended run, straight into the database: the
    inbox, the executor's memory and the sweep's reconciler see a register office's full load
    (each case paused where its run is, so the reconciler has nothing to repair)."""
    with session_scope() as session:
        for start in range(0, len(run_ids), 1000):
            chunk = range(start, min(start + 1000, len(run_ids)))
            people = [Practitioner(kp_number=f"{80000000 + i}", name=f"Gegenereerd {i}",
                                   email=f"gen{i}@example.org", member=True) for i in chunk]
            session.add_all(people)
            session.flush()
            session.add_all([Case(
                number=f"HR-GEN-{i:06d}", practitioner_id=p.id or 0, specialisation="KOT",
                request_date=TODAY - timedelta(days=i % 60),
                state=CaseState.REQUESTED, awaiting_key="association-decision",
                awaiting_action="association_decision", flow_run_id=run_ids[i],
                due_on=TODAY + timedelta(days=i % 42), run_generation=1,
            ) for i, p in zip(chunk, people, strict=True)])
            session.flush()


async def generate_waiting_runs(count: int) -> tuple[list[str], float]:
    """`count` runs suspended at the first decision, as the server holds them for waiting
    cases; their ids, and how long making them took."""
    started, ids = time.monotonic(), []
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(get_settings().prefect.deployment)
        for start in range(0, count, 50):
            runs = await asyncio.gather(*(client.create_flow_run_from_deployment(
                deployment.id, parameters={"case_id": 0}, name=f"gegenereerd-{i}",
                state=Paused(reschedule=True, pause_key="association-decision"))
                for i in range(start, min(start + 50, count))))
            ids += [str(run.id) for run in runs]
            if (start + 50) % 1000 == 0:
                say(f"  {start + 50}/{count} wachtende runs")
    return ids, time.monotonic() - started


def inbox_p95(requests: int) -> tuple[float, float]:
    """The staff inbox's first page, as VvOCM opens it (in-process, same code as the server)."""
    import re

    from fastapi.testclient import TestClient

    from models.staff import StaffRole, StaffUser
    from service.accounts import hash_password
    from web.app import create_app

    with session_scope() as session:
        session.add(StaffUser(email="bench@example.org", name="Bench", password_hash=hash_password(
            "benchmark-wachtwoord"), role=StaffRole.ASSOCIATION_STAFF))
    timings = []
    with TestClient(create_app()) as client:
        page = client.get("/inloggen")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        client.post("/inloggen", data={"email": "bench@example.org",
                                       "password": "benchmark-wachtwoord",
                                       "csrf_token": token.group(1), "volgende": "/inbox"})
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get("/inbox")
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
    return statistics.median(timings), q95(timings)


def cpu_reference() -> float:
    """Seconds for a fixed pure-Python loop: this machine's speed varies between days by more
    than the cuts measured here, so runs are compared with it alongside."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def table(rows: list[tuple[str, str, str]]) -> None:
    say(f"{'measure':<58}{'stock':>12}{'warm':>12}")
    for label, stock, warm in rows:
        say(f"{label:<58}{stock:>12}{warm:>12}")


async def scenario(args: argparse.Namespace, stack: Stack, arrivals: Arrivals) -> None:
    single, burst, walkers = args.single, args.burst, args.memory_transitions // len(WALK)
    say(f"Aanvragen openen: 2 x ({single} + {burst}) en {walkers} voor het geheugen ...")
    t0 = time.monotonic()
    opened = await open_many(0, 2 * (single + burst) + walkers)
    await waiting([n for n, _ in opened], "association_decision", 1800)
    say(f"  klaar in {time.monotonic() - t0:.0f} s")
    groups = {"stock": (opened[:single], opened[single:single + burst]),
              "warm": (opened[single + burst:2 * single + burst],
                       opened[2 * single + burst:2 * (single + burst)])}
    walking = opened[2 * (single + burst):]

    modes = {}
    for name in ("stock", "warm"):
        stack.use_executor(name)
        await asyncio.sleep(5 if name == "stock" else 8)  # the worker polls / the pool warms up
        modes[name] = Mode(name)
        await measure(modes[name], stack, arrivals, *groups[name])

    say(f"[warm] geheugen over {len(walking) * len(WALK)} overgangen ...")
    memory = await walk_for_memory(stack, arrivals, walking)

    say(f"{args.open_cases} open aanvragen met elk een wachtende run genereren ...")
    run_ids, runs_seconds = await generate_waiting_runs(args.open_cases)
    generate_open_cases(run_ids)
    inbox_p50, inbox_95 = inbox_p95(40)
    worker, server = stack.children["worker"].process.pid, \
        stack.children["prefect-server"].process.pid

    stock, warm = modes["stock"], modes["warm"]
    say("")
    where = "the machine's PostgreSQL" if args.postgres else "the stack's private cluster"
    say(f"Settings: case database and Prefect's on {where}"
        f"; pool concurrency {get_settings().prefect.concurrency}; warm processes "
        f"{get_settings().prefect.warm_processes}; stock worker poll "
        f"{get_settings().prefect.query_seconds} s, warm executor's fallback poll "
        f"{get_settings().prefect.fallback_query_seconds} s; result persistence on; "
        f"{os.cpu_count()} cores; CPU reference (10M-step Python loop) {cpu_reference():.2f} s")
    say("")
    table([
        (f"(a) action -> mail p50 over {single} (s)", f"{statistics.median(stock.latencies):.2f}",
         f"{statistics.median(warm.latencies):.2f}"),
        (f"(a) action -> mail p95 over {single} (s)", f"{q95(stock.latencies):.2f}",
         f"{q95(warm.latencies):.2f}"),
        (f"(b) burst of {burst}: drained to the last mail (s)", f"{stock.burst_drain:.1f}",
         f"{warm.burst_drain:.1f}"),
        ("(c) burst transitions per second", f"{stock.burst_tps:.2f}", f"{warm.burst_tps:.2f}"),
        ("(d) executor CPU per transition (s)", f"{stock.executor_cpu:.3f}",
         f"{warm.executor_cpu:.3f}"),
        ("(d) Prefect server CPU per transition (s)", f"{stock.server_cpu:.3f}",
         f"{warm.server_cpu:.3f}"),
    ])
    say("")
    say("Where a single action's time goes (median, s):")
    table([(label, f"{statistics.median(stock.segments.get(label, [0])):.3f}",
            f"{statistics.median(values):.3f}") for label, values in warm.segments.items()])
    say("")
    say(f"Warm executor RSS over {memory[-1][0]} transitions (MB): "
        + ", ".join(f"{n}: {mb:.0f}" for n, mb in memory))
    say(f"With {args.open_cases} open cases (as many suspended runs in Prefect, "
        f"made in {runs_seconds:.0f} s): staff inbox p50 {inbox_p50 * 1000:.0f} ms, "
        f"p95 {inbox_95 * 1000:.0f} ms; RSS executor {rss_mb(worker):.0f} MB, "
        f"Prefect server {rss_mb(server):.0f} MB")
    say(f"warm/stock p95 ratio: {q95(warm.latencies) / q95(stock.latencies):.2f}; "
        f"burst speedup: {warm.burst_tps / stock.burst_tps:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=30)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--memory-transitions", type=int, default=1000)
    parser.add_argument("--open-cases", type=int, default=10_000,
                        help="generated open cases, each with a suspended run")
    parser.add_argument("--quick", action="store_true",
                        help="5 single, a burst of 10, 40 transitions, 500 open cases")
    parser.add_argument("--postgres", action="store_true",
                        help="our database and Prefect's on the machine's PostgreSQL "
                        "(default: the stack's private cluster, as `make demo` runs)")
    args = parser.parse_args()
    if args.quick:
        args.single, args.burst, args.memory_transitions, args.open_cases = 5, 10, 40, 500

    # A killed benchmark still stops its stack and drops its databases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir = Path(tempfile.mkdtemp(prefix="herreg-bench-"))
    arrivals = Arrivals()
    smtp_port = free_port()
    sink = start_sink(data_dir / "mail", smtp_port, arrivals.receive)
    env = {"HERREG_ENVIRONMENT": "development", "HERREG_DATA_DIR": str(data_dir),
           "HERREG_TODAY": TODAY.isoformat(), "HERREG_SMTP__URL": f"smtp://127.0.0.1:{smtp_port}",
           "HERREG_PREFECT__AUTH_STRING": f"bench:{uuid.uuid4().hex}",
           "HERREG_PREFECT__EXECUTOR": "warm",
           # This process acts as the web app does, with the stack's Prefect client settings.
           "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "false"}
    databases: list[str] = []
    cleanup: list[Callable[[], None]] = [sink.stop]
    if args.postgres:
        import psycopg2

        databases = [f"herreg_bench_{uuid.uuid4().hex[:8]}",
                     f"herreg_benchp_{uuid.uuid4().hex[:8]}"]
        admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            for name in databases:
                cursor.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with admin.cursor() as cursor:
                for name in databases:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        cleanup.append(drop)
        env["HERREG_DATABASE__URL"] = \
            f"postgresql+psycopg2://postgres@127.0.0.1:5432/{databases[0]}"
        env["HERREG_PREFECT__SERVER_DATABASE_URL"] = (
            f"postgresql+asyncpg://postgres@127.0.0.1:5432/{databases[1]}")
    os.environ.update(env)
    get_settings.cache_clear()
    stack = Stack(settings=get_settings())
    say(f"Stack starten (gegevens en logs in {data_dir}) ...")
    try:
        stack.start()
        # This process acts on the stack as its web app does.
        os.environ.update({k: v for k, v in stack.env().items() if k.startswith("HERREG_")})
        get_settings.cache_clear()
        with configured_api():
            asyncio.run(scenario(args, stack, arrivals))
    finally:
        stack.stop()
        for step in cleanup:
            step()


if __name__ == "__main__":
    main()
