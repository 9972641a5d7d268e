"""How a flow's steps run and how it waits for a person.

The flows only order steps; an executor carries them out. In production that is Prefect: each
step a task, each pause a suspended run (no process waits). The seam is what lets the same
plan be replayed step by step against the database alone.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ParamSpec, Protocol, TypeVar

from prefect import Task
from prefect.flow_runs import asuspend_flow_run

from domain.decisions import Decision
from domain.procedure import PLAN_VERSION, Pause
from tasks.decisions import PauseInfo
from tasks.ledger import Ledger
from tasks.mail import send_now

P = ParamSpec("P")
R = TypeVar("R")


class Executor(Protocol):
    plan_version: int  # the plan the case started under (domain/procedure.py)

    def step(self, task: Task[P, bool], *args: P.args, **kwargs: P.kwargs) -> bool:
        """A transition; True if this call made it."""
        ...

    def call(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...

    def recall(self, pause_key: str) -> dict[str, Any] | None:
        """The decision an earlier execution of this run acted on at the pause, if any."""
        ...

    async def suspend(self, kind: type[Decision], pause: PauseInfo, pause_key: str) -> Decision:
        ...

    async def send_mail(self, case_id: int) -> None: ...


class Recollection:
    """What a run that starts from the top did before, from the ledger read at its start.

    The plan calls its steps and pauses in the order the ledger holds them, so while the two
    agree, a step found next in the ledger is done and a passed pause gives its decision:
    neither starts a task. At the first call that does not match (the pause the run was
    resumed at, or a plan that changed since) the run goes on with real tasks only, whose own
    ledger checks keep every step once.
    """

    def __init__(self, ledger: Ledger | None = None) -> None:
        self._past = deque(ledger.entries if ledger else [])

    def step_done(self) -> bool:
        if self._past and self._past[0].key.startswith("step:"):
            self._past.popleft()
            return True
        self._past.clear()
        return False

    def decision(self, pause_key: str) -> dict[str, Any] | None:
        if self._past and self._past[0].key == f"pause:{pause_key}" \
                and self._past[0].decision is not None:
            return self._past.popleft().decision
        self._past.clear()
        return None


def follows(run: Executor, pause: Pause[Any]) -> bool:
    """Whether the case's plan has this pause: one added to the plan later (`since`) is not
    for cases that started before (they finish on the plan they started with)."""
    return pause.since <= run.plan_version


class PrefectExecutor:
    """Steps are Prefect tasks; a pause suspends the run, so no process waits for people."""

    def __init__(self, ledger: Ledger | None = None) -> None:
        self.memory = Recollection(ledger)
        self.plan_version = ledger.plan_version if ledger else PLAN_VERSION

    def step(self, task: Task[P, bool], *args: P.args, **kwargs: P.kwargs) -> bool:
        return False if self.memory.step_done() else task(*args, **kwargs)

    def call(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return task(*args, **kwargs)

    def recall(self, pause_key: str) -> dict[str, Any] | None:
        return self.memory.decision(pause_key)

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
