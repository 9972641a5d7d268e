"""The scheduled sweep: what no person's action triggers.

Lapse detection (R4), runs and decisions that could not reach Prefect while it was down,
expired pauses, and mail that could not be sent while SMTP was down.
"""

from __future__ import annotations

from datetime import date

from prefect import flow

from flows.case_closure import case_closure
from settings import get_settings
from tasks.cases import overdue_cases
from tasks.mail import deliver_mail
from tasks.registrations import mark_lapsed_registrations
from tasks.runs import resume_pending_decisions, start_missing_runs


@flow(name="sweep")
async def sweep(today: date | None = None) -> dict[str, int]:
    """Idempotent; safe to run as often as the schedule likes."""
    day = today or get_settings().current_date()
    report = {
        "lapsed": mark_lapsed_registrations(day),
        "started": await start_missing_runs(),
        "resumed": await resume_pending_decisions(),
        "expired": 0,
    }
    for case_id in overdue_cases(day):
        report["expired"] += await case_closure(case_id, "expired", day)
    report["mailed"] = await deliver_mail.with_options(retries=1, retry_delay_seconds=2)()
    return report
