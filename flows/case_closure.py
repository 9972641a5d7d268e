"""Closing a case from outside its step plan: withdrawal by a person, or an expired pause.

A withdrawal can come at any pause, and a suspended run waits for one typed input only, so
the close is its own short flow: stop the case's run, record the close, send the mail.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from prefect import flow

from settings import get_settings
from tasks.cases import close_case
from tasks.mail import deliver_mail
from tasks.runs import cancel_case_run


@flow(name="case-closure")
async def case_closure(
    case_id: int, reason: Literal["withdrawn", "expired"], today: date | None = None
) -> bool:
    """True if this run closed the case (False: already closed, or a decision came in time)."""
    closed = close_case(case_id, reason, today or get_settings().current_date())
    if closed:
        await cancel_case_run(case_id)
    await deliver_mail(case_id)
    return closed
