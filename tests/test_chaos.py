"""Chaos, small: two cases walked through every kind of step (intake call, completion,
additions round) on a stack of their own, our database and Prefect's on PostgreSQL, with
Prefect's task result cache off so that every resume replays every earlier step for real.
Meanwhile the worker is killed once (with its flow-run processes), the sweep's executor is
killed while a sweep runs, SMTP is down for 20 s, the Prefect server is restarted, a burst of
decisions is posted through the API at once, and every process of the stack is killed at once
in the middle of another burst (a power cut; the databases here are the machine's). Nothing
may be lost, doubled or left stuck, and no answer may be a 500 (tests/chaos.py).

The full version, with more cases, our PostgreSQL stopped, the sweep's executor killed
and schemathesis over the API, is bench/chaos.py. There a case counts as stuck after two
sweeps without progress; here, on a machine that may be busy with other work, after four."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.processes import Stack
from tests.chaos import (
    Faults,
    Monitor,
    Scheduled,
    Timeline,
    Walk,
    Walkers,
    api_callers,
    case_history,
    check,
    plans_for,
    play,
    repair_figures,
    run_evidence,
    settle,
)
from tests.conftest import Mailbox, postgres_database, running_stack, smtp_server

# Sweeps run in this process every 15 s besides the scheduled one, so repairs need not wait
# for the schedule.
SWEEP_EVERY = 15
STUCK_AFTER = 4 * 60
SETTLE = 300  # after the faults: the walks' remaining steps and any repairs


@pytest.fixture
def chaos_stack(tmp_path: Path) -> Iterator[tuple[Stack, Mailbox]]:
    """A stack and an SMTP server of this test's own (it kills and restarts their parts), on
    two throwaway PostgreSQL databases: ours and the Prefect server's."""
    with smtp_server(tmp_path / "mail") as mailbox, postgres_database() as ours, \
            postgres_database("asyncpg") as prefects, \
            running_stack(tmp_path / "data", database_url=ours, prefect_database_url=prefects,
                          persist_task_results=False, mailbox=mailbox) as stack:
        stack.start_web()
        yield stack, mailbox


async def test_every_step_survives_killed_workers_smtp_outage_and_server_restart(
        chaos_stack: tuple[Stack, Mailbox]) -> None:
    stack, mailbox = chaos_stack
    lines: list[str] = []
    timeline = Timeline(echo=lines.append)
    walks = [Walk(p) for p in plans_for(2, ("intake", "additions"))]
    walkers = Walkers(walks, timeline, think=(0.1, 0.5), give_up_after=240)
    await walkers.open_all()
    monitor = Monitor(walks, timeline, every=2, sweep_every=SWEEP_EVERY, sweeping=True)
    stop = asyncio.Event()
    watching = asyncio.create_task(monitor.run(stop))
    walking = asyncio.create_task(walkers.walk_all())
    callers = api_callers(walks[0].case_id)
    faults = Faults(stack, mailbox, timeline, walkers, web_url=stack.web_url,
                    api_headers=callers["register_staff"], callers=callers)
    await play([
        Scheduled(8, "kill sweep worker", lambda: faults.kill_sweep_worker(60)),
        Scheduled(12, "kill 1", faults.kill_worker),
        Scheduled(16, "burst", lambda: faults.burst(20)),
        Scheduled(20, "smtp down", lambda: faults.smtp_down(20)),
        Scheduled(35, "prefect restart", lambda: faults.restart_prefect(20)),
        Scheduled(50, "power cut", faults.power_cut),
    ], timeline)
    monitor.faults_end = timeline.now()
    stop.set()
    await watching
    settled = await settle(walkers, walking, monitor, timeout=SETTLE)
    await monitor.finish()
    walking.cancel()
    with contextlib.suppress(BaseException):
        await walking
    found = check(walks, mailbox, monitor, stuck_after=STUCK_AFTER)
    lines += repair_figures(walks, timeline)
    lines.append(f"in-process sweeps {monitor.sweep_count}, reports {dict(monitor.sweeps)}, "
                 f"failed {monitor.sweep_failures}")
    for walk in walks:
        if not settled or any(walk.number in p for p in found.lost + found.doubled
                              + found.stuck):
            lines += [f"history of {walk.number}:", *case_history(walk.case_id),
                      *await run_evidence(walk.case_id)]
    evidence = "\n".join([*lines, *found.lost, *found.doubled, *found.stuck, *found.notes])
    assert (found.lost, found.doubled, found.stuck) == ([], [], []), evidence
    assert settled, evidence
    assert not faults.burst_errors, faults.burst_errors
