"""Chaos benchmark (not a test): N cases walked concurrently to the end while things break.

Against the embedded stack as `make demo` starts it (its private PostgreSQL cluster with our
database and Prefect's, the Prefect server, workers, web app) and an SMTP server in this
process; with --postgres, Prefect's database is a throwaway one on the machine's PostgreSQL and
ours on a cluster of its own (the machine's shared server is never stopped). On a timeline:

  - SIGKILL of the worker and its flow-run processes at random moments (--kills times);
  - the SMTP server down for minutes (--smtp-down seconds);
  - the Prefect server restarted while cases are suspended;
  - our PostgreSQL stopped for --db-down seconds right after a decision (runs in flight),
    asking the API meanwhile what it answers (on the embedded default the whole cluster,
    Prefect's database with it);
  - the sweep's executor killed while a sweep runs (its run left holding the pool's slot);
  - power cuts: every process of the stack SIGKILLed at once, once in the middle of a burst
    of decisions and once in the middle of a sweep, then back on the same data;
  - bursts of --burst decisions posted through the API at the same moment;
  - competing decisions: in every fifth case the payment (KP) and a withdrawal (the
    practitioner) are posted within 50 ms of each other; one is recorded, the other refused,
    and the case goes on as the winner's plan.

Actors act through `service.actions` as soon as their case awaits their step and retry when
it does not yet; a recorded decision counts as done even if its hand-over failed. Once the
faults are over, the script waits for the system to settle (sweeping in this process every
--sweep-every seconds, besides the scheduled sweep) and checks the invariants in our database
and at the SMTP server: every case at its final state, every expected mail arrived once, no
duplicate invoice or certificate, and no case owed work without progress for more than two
sweep intervals (2 x 60 s) after the faults ended. Then schemathesis runs over /api/v1.
The last line reads `chaos: N cases, lost L, doubled D, stuck S, 5xx E`.

    .venv/bin/python bench/chaos.py [--cases 15] [--postgres] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settings import get_settings  # noqa: E402
from stack.postgres import Cluster  # noqa: E402
from stack.processes import Stack, free_port  # noqa: E402
from tests.chaos import (  # noqa: E402
    Faults,
    Monitor,
    Scheduled,
    Timeline,
    Walk,
    Walkers,
    api_callers,
    case_history,
    chaos_line,
    check,
    fuzz_api,
    plans_for,
    play,
    repair_figures,
    run_evidence,
    settle,
)
from tests.conftest import Mailbox, running_stack  # noqa: E402

SHARED_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
SWEEP_INTERVAL = 60  # prefect.yaml's schedule; "stuck" is more than two of these


@contextlib.contextmanager
def prefect_database(machine: bool) -> Iterator[str]:
    """Empty (the stack's own cluster) or a throwaway database on the machine's PostgreSQL,
    dropped afterwards."""
    if not machine:
        yield ""
        return
    import psycopg2

    name = f"herreg_chaos_prefect_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(SHARED_POSTGRES)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def timeline_of(faults: Faults, args: argparse.Namespace) -> list[Scheduled]:
    """Kills at random moments spread over the walk; the other faults in between."""
    rnd = random.Random(args.seed)
    span = args.span
    kills = sorted(rnd.uniform(0.08, 0.95) * span for _ in range(args.kills))
    schedule = [Scheduled(at, f"kill {i + 1}", faults.kill_worker) for i, at in enumerate(kills)]
    schedule += [
        Scheduled(0.12 * span, "smtp down", lambda: faults.smtp_down(args.smtp_down)),
        Scheduled(0.40 * span, "prefect restart", faults.restart_prefect),
        Scheduled(0.55 * span, "database down", lambda: faults.stop_database(args.db_down)),
        Scheduled(0.20 * span, "burst", lambda: faults.burst(args.burst)),
        Scheduled(0.30 * span, "kill sweep worker", faults.kill_sweep_worker),
        Scheduled(0.65 * span, "power cut during a burst", faults.power_cut),
        Scheduled(0.80 * span, "power cut during a sweep",
                  lambda: faults.power_cut(during="sweep")),
        Scheduled(0.90 * span, "burst", lambda: faults.burst(args.burst)),
    ]
    return schedule


async def scenario(args: argparse.Namespace, stack: Stack, mailbox: Mailbox,
                   cluster: Cluster | None, web_url: str) -> int:
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)  # the sweeps run in this process
    timeline = Timeline()
    walks = [Walk(plan) for plan in plans_for(args.cases)]
    walkers = Walkers(walks, timeline, seed=args.seed, think=(args.think / 6, args.think))
    await walkers.open_all()
    callers = api_callers(walks[0].case_id)
    monitor = Monitor(walks, timeline, every=5, sweep_every=args.sweep_every, sweeping=False)
    stop_monitor = asyncio.Event()
    monitor_task = asyncio.create_task(monitor.run(stop_monitor))
    walk_task = asyncio.create_task(walkers.walk_all())
    faults = Faults(stack, mailbox, timeline, walkers, cluster=cluster, web_url=web_url,
                    api_headers=callers["register_staff"], callers=callers, seed=args.seed)
    await play(timeline_of(faults, args), timeline)
    monitor.faults_end = timeline.now()
    timeline.note("faults over; sweeping in this process every "
                  f"{args.sweep_every:.0f} s from now on, until everything settles")
    stop_monitor.set()
    await monitor_task
    monitor.sweeping = True
    settled = await settle(walkers, walk_task, monitor, args.settle_timeout)
    await monitor.finish()
    timeline.note("settled" if settled else f"NOT settled after {args.settle_timeout:.0f} s")
    if not walk_task.done():
        walk_task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await walk_task
    found = check(walks, mailbox, monitor, stuck_after=2 * SWEEP_INTERVAL)
    elapsed = timeline.now()

    print(f"\nfuzzing /api/v1 with schemathesis ({args.fuzz_examples} examples per operation "
          f"and mode, callers {', '.join(callers)}) ...", flush=True)
    started = time.monotonic()
    fuzz = await asyncio.to_thread(fuzz_api, web_url, callers, args.fuzz_examples, args.seed)
    fuzz_seconds = time.monotonic() - started

    print("\nSettings")
    settings = get_settings()
    print(f"  cases               {args.cases} ({', '.join(w.plan.name for w in walks[:4])} ...)")
    if cluster is None:
        print("  databases           the stack's private PostgreSQL cluster (ours and Prefect's)")
    else:
        print(f"  our database        PostgreSQL, a cluster of its own in {cluster.home}")
        print("  Prefect database    the machine's PostgreSQL")
    print(f"  pool concurrency    {settings.prefect.concurrency}; zombie after "
          f"{settings.repair.zombie_seconds} s; pending lost after "
          f"{settings.repair.pending_seconds} s; repair attempts {settings.repair.max_attempts}")
    print(f"  cores               {os.cpu_count()}; seed {args.seed}")
    print("\nTimeline of faults")
    for fault in timeline.faults:
        end = f"{fault.end:7.1f}s" if fault.end is not None else "      ?"
        print(f"  {fault.start:7.1f}s - {end}  {fault.kind}")
    print("\nMeasured")
    finished = [w.finished for w in walks if w.finished is not None]
    print(f"  total {elapsed:.0f} s; faults over at {monitor.faults_end:.0f} s; actors done: "
          f"{len(finished)}/{len(walks)}" + (f", last at {max(finished):.0f} s" if finished
                                            else ""))
    decisions = sum(len(w.done) for w in walks)
    print(f"  decisions {decisions}, handed over at once {sum(w.handed_over for w in walks)}; "
          f"actor retries {dict(sum((w.retries for w in walks), start=Counter()))}")
    print(f"  mails received {len(mailbox.messages)}, distinct keys {len(mailbox.keys())}")
    print(f"  in-process sweeps {monitor.sweep_count} (failed {len(monitor.sweep_failures)}); "
          f"their reports: {dict(monitor.sweeps)}")
    for failure in monitor.sweep_failures[:5]:
        print(f"    sweep failed: {failure}")
    for line in repair_figures(walks, timeline):
        print(f"  {line}")
    longest = sorted(((t, cid, why) for cid, (t, why) in monitor.longest.items()), reverse=True)
    for waited, case_id, why in longest[:5]:
        number = next(w.number for w in walks if w.case_id == case_id)
        print(f"  longest owed work after the faults: {number} {waited:.0f} s ({why})")
    print(f"  longest any case was owed work after the last fault: "
          f"{longest[0][0] if longest else 0:.0f} s (two sweeps: {2 * SWEEP_INTERVAL} s)")
    print(f"  API during the database outage: {dict(faults.api_statuses)}")
    print(f"  API answers to the bursts: {dict(faults.burst_statuses)}")
    print(f"  competing decisions (a payment and a withdrawal within 50 ms): "
          f"{dict(walkers.contests)}")
    for error in faults.burst_errors[:10]:
        print(f"    5xx in a burst: {error}")
    print(f"  schemathesis: {fuzz.calls} calls in {fuzz_seconds:.0f} s, statuses "
          f"{dict(sorted(fuzz.statuses.items()))}")
    for error in fuzz.server_errors[:20]:
        print(f"    5xx: {error}")

    problems = [("LOST", found.lost), ("DOUBLED", found.doubled), ("STUCK", found.stuck),
                ("note", found.notes)]
    for title, items in problems:
        for item in items:
            print(f"  {title}: {item}")
    troubled = {w.case_id for w in walks if any(w.number in p for p in
                                                 found.lost + found.doubled + found.stuck)}
    for walk in walks:
        if walk.case_id in troubled:
            print(f"\nHistory of {walk.number} ({walk.plan.name}):")
            for line in case_history(walk.case_id) + await run_evidence(walk.case_id):
                print(f"    {line}")
    print()
    server_errors = len(fuzz.server_errors) + len(faults.burst_errors)
    print(chaos_line(args.cases, found, server_errors), flush=True)
    return 0 if not (found.lost or found.doubled or found.stuck or server_errors) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", action="store_true",
                        help="Prefect's database on the machine's PostgreSQL, ours on a cluster "
                        "of its own")
    parser.add_argument("--span", type=float, default=480,
                        help="seconds over which the faults are spread")
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--think", type=float, default=40,
                        help="longest time a person reads a page before deciding (s); long "
                             "enough that the walks last as long as the faults")
    parser.add_argument("--smtp-down", type=float, default=180)
    parser.add_argument("--db-down", type=float, default=30)
    parser.add_argument("--sweep-every", type=float, default=30)
    parser.add_argument("--burst", type=int, default=30,
                        help="decisions posted at once through the API, twice")
    parser.add_argument("--settle-timeout", type=float, default=1200)
    parser.add_argument("--fuzz-examples", type=int, default=25)
    args = parser.parse_args()
    # A killed benchmark still stops its stack (and drops its databases).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    data_dir = Path(tempfile.mkdtemp(prefix="herreg-chaos-"))
    print(f"data and logs in {data_dir}", flush=True)
    mailbox = Mailbox(data_dir / "mail")
    mailbox.start()
    os.environ.update({
        "HERREG_SMTP__URL": f"smtp://127.0.0.1:{mailbox.port}",
        "HERREG_WEB__PORT": str(free_port()),
    })
    code = 1
    try:
        with contextlib.ExitStack() as resources:
            cluster, ours = None, ""
            if args.postgres:
                cluster = resources.enter_context(Cluster(
                    home=Path(tempfile.mkdtemp(prefix="herreg-pg-")),
                    socket_dir=Path(tempfile.mkdtemp(prefix="herreg-pgs-")), durable=False))
                cluster.ensure_databases(("herregistratie",))
                ours = cluster.url("herregistratie")
            prefects = resources.enter_context(prefect_database(args.postgres))
            print("starting the stack ...", flush=True)
            stack = resources.enter_context(running_stack(
                data_dir, database_url=ours, prefect_database_url=prefects))
            web_url = stack.start_web()
            code = asyncio.run(scenario(args, stack, mailbox, cluster, web_url))
    finally:
        mailbox.stop()
        print(f"(logs in {data_dir / 'logs'})")
    sys.exit(code)

if __name__ == "__main__":
    main()
