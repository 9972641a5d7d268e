"""The warm executor (warm/) against a real stack: every branch of the step plan with each mail
once, the same Prefect state history and log lines as Prefect's stock process worker, and two
executors on one pool (Prefect on PostgreSQL) that never run one run at once. Killing the
executor mid-step is in test_live_repairs.py."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.input.run_input import keyset_from_paused_state

from adapters.links import staff_case_url
from domain.decisions import AssociationDecision
from service.actions import act, open_case
from stack.processes import Stack, case_pool, read_stack_file
from tests.chaos import PLANS, Timeline, Walk, Walkers
from tests.conftest import (
    ASSOCIATION,
    TODAY,
    Mailbox,
    awaiting,
    case_row,
    postgres_database,
    running_stack,
    smtp_server,
    wait_until,
)
from tests.factories import request


async def walk_to_the_end(walks: list[Walk], timeout: float = 300) -> None:
    walkers = Walkers(walks, Timeline(echo=lambda _: None), think=(0.0, 0.1), poll=0.2,
                      give_up_after=timeout)
    await walkers.open_all()
    try:
        await asyncio.wait_for(walkers.walk_all(), timeout)
    except TimeoutError as err:
        raise AssertionError("; ".join(
            f"{w.number} ({w.plan.name}) decided {w.done}, now {case_row(w.case_id).state} "
            f"awaiting {case_row(w.case_id).awaiting_key}, {w.retries} {w.unexpected}"
            for w in walks)) from err
    for walk in walks:
        await wait_until(lambda w=walk: case_row(w.case_id).state == w.plan.final, 60,
                         f"{walk.number} to end {walk.plan.final}")
        assert walk.unexpected == [], walk.unexpected


async def test_every_branch_runs_under_the_warm_executor_with_each_mail_once(
        stack: Stack, mailbox: Mailbox) -> None:
    assert stack.settings.prefect.executor == "warm"
    walks = [Walk(PLANS[name]) for name in
             ("member", "intake", "additions", "withdrawn", "declined", "rejected")]
    await walk_to_the_end(walks)
    for walk in walks:
        await wait_until(lambda w=walk: Counter(mailbox.templates(w.case_id))
                         == Counter(w.plan.templates), 60, f"the mails of {walk.number}")
    mailbox.assert_each_once()


NOISE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|-[0-9a-f]{3}'|"
                   r"HR-\d{4}-\d+|\d+")
# What only a fresh process does: fetch the flow's code (a warm process loaded it once).
CODE_PULL = ("pull step", "deployment step", "set_working_directory", "Downloading flow code")


async def a_run_to_its_second_pause() -> tuple[list[str], list[str]]:
    """A new case's run through its first decision to the next pause: its state names and
    its own log lines (flow and tasks, ids and numbers blanked out)."""
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    await awaiting(opened.number, "association_decision", timeout=120)
    await act(opened.number, "association_decision", {"outcome": "advise"}, actor=ASSOCIATION)
    case = await awaiting(opened.number, "portfolio_reopened", timeout=120)
    run_id = UUID(case.flow_run_id)
    async with get_client() as client:
        await wait_until_paused(run_id)
        states = [s.name for s in await client.read_flow_run_states(run_id)]
        await asyncio.sleep(3)  # the executor ships its logs in batches
        logs = await client.read_logs(log_filter=LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    lines = sorted(NOISE.sub("#", log.message) for log in logs
                   if log.name in ("prefect.flow_runs", "prefect.task_runs")
                   and not any(marker in log.message for marker in CODE_PULL))
    return states, lines


async def wait_until_paused(run_id: UUID) -> None:
    async with get_client() as client:
        for _ in range(600):
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[run_id])))
            if runs and runs[0].state and runs[0].state.is_paused():
                return
            await asyncio.sleep(0.2)
    raise AssertionError("the run never suspended")


async def test_state_history_and_log_lines_are_those_of_the_stock_worker(
        stack: Stack) -> None:
    try:
        stack.use_executor("stock")
        stock_states, stock_lines = await a_run_to_its_second_pause()
    finally:
        stack.use_executor("warm")
    warm_states, warm_lines = await a_run_to_its_second_pause()
    assert warm_states == stock_states
    assert warm_lines == stock_lines


async def test_prefect_ui_shows_the_case_number_and_dutch_forms_linking_back(
        stack: Stack) -> None:
    opened = await open_case(request(TODAY - timedelta(days=3)), actor=ASSOCIATION)
    case = await awaiting(opened.number, "association_decision", timeout=120)
    run_id = UUID(case.flow_run_id)
    await wait_until_paused(run_id)
    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        assert run.name == f"{opened.number} #1" and f"aanvraag:{opened.number}" in run.tags
        assert run.state is not None
        keys = keyset_from_paused_state(run.state)
        description = await client.read_flow_run_input(flow_run_id=run_id,
                                                       key=keys["description"])
        form = json.loads(await client.read_flow_run_input(flow_run_id=run_id,
                                                           key=keys["schema"]))
    assert AssociationDecision.title in description
    assert f"[{opened.number}]({staff_case_url(opened.number)})" in description
    assert form["title"] == AssociationDecision.title
    found = read_stack_file(stack.settings.data_dir)  # for the command line in a 2nd terminal
    assert found["HERREG_PREFECT__API_URL"] == stack.api_url
    assert {field["title"] for field in form["properties"].values()} == {"Besluit",
                                                                        "Toelichting"}


@pytest.fixture
def two_executors(tmp_path: Path) -> Iterator[tuple[Stack, Mailbox]]:
    """A stack on PostgreSQL (ours and Prefect's) with a second warm executor on its pool."""
    with smtp_server(tmp_path / "mail") as mailbox, postgres_database() as ours, \
            postgres_database("asyncpg") as prefects, \
            running_stack(tmp_path / "data", database_url=ours, prefect_database_url=prefects,
                          mailbox=mailbox) as stack:
        stack._spawn("second-executor", stack._herregistratie(), "executor",
                     "--pool", case_pool(), "--naam", "second-executor")
        yield stack, mailbox


async def test_two_executors_on_one_pool_never_run_one_run_at_once(
        two_executors: tuple[Stack, Mailbox]) -> None:
    _, mailbox = two_executors
    walks = [Walk(PLANS["member"]) for _ in range(8)]
    await walk_to_the_end(walks, timeout=420)
    executors: Counter[str] = Counter()
    async with get_client() as client:
        for walk in walks:
            run_id = UUID(case_row(walk.case_id).flow_run_id)
            states = [s.name for s in await client.read_flow_run_states(run_id)]
            # One claim, one execution: every Running follows its own Pending, and a run is
            # never Running twice without a pause (or its end) in between.
            executions = [s for s in states if s in ("Pending", "Running", "Suspended",
                                                     "Completed")]
            assert all(a == "Pending" and b == "Running" for a, b in
                       zip(executions[0::3], executions[1::3], strict=False)), states
            assert states.count("Running") == states.count("Pending"), states
            logs = await client.read_logs(log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            executors.update(m.group(1) for log in logs
                             if (m := re.match(r"Worker '([^']+)' submitting", log.message)))
    assert len(executors) == 2, f"both executors took runs: {executors}"
    mailbox.assert_each_once()
