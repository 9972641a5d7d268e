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
from tasks.decisions import PauseInfo
from tasks.mail import send_now

P = ParamSpec("P")
R = TypeVar("R")


class Executor(Protocol):
    def step(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...

    async def suspend(self, kind: type[Decision], pause: PauseInfo, pause_key: str) -> Decision:
        ...

    async def send_mail(self, case_id: int) -> None: ...


class PrefectExecutor:
    """Steps are Prefect tasks; a pause suspends the run, so no process waits for people."""

    def step(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return task(*args, **kwargs)

    async def suspend(self, kind: type[Decision], pause: PauseInfo, pause_key: str) -> Decision:
        """The resume form in Prefect's UI links back to the case page, where the decision
        is best taken (it shows the evidence and checks)."""
        description = (f"**{kind.title}**\n\nAanvraag [{pause.case_number}]({pause.case_url}); "
                       "besluit bij voorkeur op de pagina van de aanvraag.")
        return await asuspend_flow_run(
            wait_for_input=kind.with_initial_data(description=description),
            key=pause_key, timeout=pause.timeout_seconds,
        )

    async def send_mail(self, case_id: int) -> None:
        await send_now(case_id)
