"""How a flow's steps run and how it waits for a person.

The flows only order steps; an executor carries them out. In production that is Prefect: each
step a task, each pause a suspended run (no process waits). The seam is what lets the same
plan be replayed step by step against the database alone.
"""

from __future__ import annotations

from typing import ParamSpec, Protocol, TypeVar

from prefect import Task
from prefect.flow_runs import asuspend_flow_run

from flows.inputs import Decision
from tasks.mail import send_now

P = ParamSpec("P")
R = TypeVar("R")


class Executor(Protocol):
    def step(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...

    async def suspend(self, kind: type[Decision], pause_key: str, timeout: int) -> Decision: ...

    async def send_mail(self, case_id: int) -> None: ...


class PrefectExecutor:
    """Steps are Prefect tasks; a pause suspends the run, so no process waits for people."""

    def step(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return task(*args, **kwargs)

    async def suspend(self, kind: type[Decision], pause_key: str, timeout: int) -> Decision:
        return await asuspend_flow_run(
            wait_for_input=kind.with_initial_data(description=f"**{kind.title}**"),
            key=pause_key, timeout=timeout,
        )

    async def send_mail(self, case_id: int) -> None:
        await send_now(case_id)
