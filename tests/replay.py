"""The step plan without Prefect: the same flow code, its steps run as plain functions against
the real database, mail going to the real (loopback) SMTP server.

A pause without a recorded decision ends the run, as Prefect's suspension does; a person's
decision is recorded through the service; and the next run replays the plan from the top,
as a resumed Prefect run does. `run_case` starts each run with the ledger, as production
does; a `Replay` made without one runs every step again on every replay, each of which must
then be recognised by the step ledger (a retried task relies on that).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import date
from typing import Any, ParamSpec, TypeVar

from prefect import Task

from domain import procedure
from domain.decisions import Decision
from domain.errors import CaseClosed
from flows.case_closure import Reason, closure_plan
from flows.executor import Recollection
from flows.lapsed_specialisation import step_plan
from settings import get_settings
from tasks.decisions import PauseInfo
from tasks.ledger import Ledger, read_ledger
from tasks.mail import DeliveryFailed, deliver_pending

P = ParamSpec("P")
R = TypeVar("R")


class Suspended(Exception):
    """The run reached a pause no decision is recorded for."""

    def __init__(self, pause_key: str) -> None:
        super().__init__(pause_key)
        self.pause_key = pause_key


class Replay:
    """An executor (flows/executor.py) that needs nothing but the database. `operator_input`
    plays an operator who resumes a pause in the Prefect UI: the run gets that input from
    Prefect instead of suspending (per pause key)."""

    def __init__(self, operator_input: dict[str, dict[str, Any]] | None = None,
                 ledger: Ledger | None = None) -> None:
        self.tasks: list[str] = []
        self.operator_input = operator_input or {}
        self.memory = Recollection(ledger)
        self.plan_version = ledger.plan_version if ledger else procedure.PLAN_VERSION

    def step(self, task: Task[P, bool], *args: P.args, **kwargs: P.kwargs) -> bool:
        return False if self.memory.step_done() else self.call(task, *args, **kwargs)

    def call(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        self.tasks.append(task.name)
        return task.fn(*args, **kwargs)

    def recall(self, pause_key: str) -> dict[str, Any] | None:
        return self.memory.decision(pause_key)

    async def suspend(self, kind: type[Decision], pause: PauseInfo, pause_key: str) -> Decision:
        if pause_key in self.operator_input:
            return kind.model_validate(self.operator_input[pause_key])
        raise Suspended(pause_key)

    async def send_mail(self, case_id: int) -> None:
        with suppress(DeliveryFailed):  # SMTP down: the mail stays pending, as in production
            await deliver_pending(case_id)


async def run_case(case_id: int, executor: Replay | None = None) -> str:
    """One run of the case: from the top until it waits for a person (the pause key) or ends
    (the outcome: certified, declined, rejected, or the closed state)."""
    try:
        return await step_plan(case_id, executor or Replay(ledger=read_ledger.fn(case_id)))
    except Suspended as paused:
        return paused.pause_key
    except CaseClosed as closed:
        return str(closed.state)


async def close(case_id: int, reason: Reason, today: date | None = None) -> bool:
    return await closure_plan(case_id, reason, today or get_settings().current_date(), Replay())
