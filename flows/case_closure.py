"""Closing a case from outside its step plan: withdrawal by a person, or an expired pause.

A withdrawal can come at any pause, and a suspended run waits for one typed input only, so
the close is its own short flow: record the close, stop the case's run, send the mail. The
sweep runs it inline for expiry, and for a withdrawal whose own run did not get it done.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from prefect import flow

from flows.executor import Executor, PrefectExecutor
from settings import get_settings
from tasks.cases import close_case
from tasks.runs import stop_case_run

Reason = Literal["withdrawn", "expired"]


async def closure_plan(case_id: int, reason: Reason, today: date, run: Executor) -> bool:
    """True if this run closed the case (False: already closed, or a decision came in time)."""
    closed = run.step(close_case, case_id, reason, today)
    if closed:
        await run.call(stop_case_run, case_id)
    await run.send_mail(case_id)
    return closed


@flow(name="case-closure")
async def case_closure(case_id: int, reason: Reason, today: date | None = None) -> bool:
    return await closure_plan(case_id, reason, today or get_settings().current_date(),
                              PrefectExecutor())
