"""Chaos, small: three cases walked to the end on a stack of their own while its worker is
killed twice (with its flow-run processes), SMTP is down for 20 s and the Prefect server is
restarted once. Nothing may be lost, doubled or left stuck (tests/chaos.py). The full version,
with our PostgreSQL stopped, a burst against Prefect's SQLite and schemathesis over the API,
is bench/chaos.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.stack import Stack
from tests.chaos import (
    Faults,
    Monitor,
    Scheduled,
    Timeline,
    Walk,
    Walkers,
    case_history,
    chaos_line,
    check,
    plans_for,
    play,
    repair_figures,
    run_evidence,
    settle,
)
from tests.conftest import Mailbox, herreg_env, running_stack

# Sweeps run in this process every few seconds, so repairs need not wait for the schedule;
# a run left Pending by a killed worker counts as lost after 60 s instead of 120 s.
SWEEP_EVERY = 15
REPAIR = {"repair__pending_seconds": "60"}
STUCK_AFTER = 2 * 60  # two scheduled sweeps
SETTLE = 180  # after the faults: the walk's remaining steps and any repairs


@pytest.fixture
def chaos_stack(tmp_path: Path) -> Iterator[tuple[Stack, Mailbox]]:
    """A stack and an SMTP server of this test's own: it kills and restarts their parts."""
    mailbox = Mailbox(tmp_path / "mail")
    mailbox.start()
    try:
        with herreg_env(**REPAIR), \
                running_stack(tmp_path / "data", mailbox=mailbox,
                              database_url=f"sqlite:///{tmp_path / 'data' / 'cases.db'}") as stack:
            yield stack, mailbox
    finally:
        mailbox.stop()


async def test_cases_survive_killed_workers_smtp_outage_and_server_restart(
        chaos_stack: tuple[Stack, Mailbox]) -> None:
    stack, mailbox = chaos_stack
    lines: list[str] = []
    timeline = Timeline(echo=lines.append)
    walks = [Walk(p) for p in plans_for(3, ("member", "additions", "withdrawn"))]
    walkers = Walkers(walks, timeline, think=(0.1, 0.5), give_up_after=240)
    await walkers.open_all()
    monitor = Monitor(walks, timeline, every=2, sweep_every=SWEEP_EVERY, sweeping=True)
    stop = asyncio.Event()
    watching = asyncio.create_task(monitor.run(stop))
    walking = asyncio.create_task(walkers.walk_all())
    faults = Faults(stack, mailbox, timeline, walkers)
    await play([
        Scheduled(12, "kill 1", faults.kill_worker),
        Scheduled(20, "smtp down", lambda: faults.smtp_down(20)),
        Scheduled(35, "prefect restart", lambda: faults.restart_prefect(20)),
        Scheduled(55, "kill 2", faults.kill_worker),
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
    assert chaos_line(3, found, 0) == "chaos: 3 cases, lost 0, doubled 0, stuck 0, 5xx 0", \
        evidence
    assert settled, evidence
