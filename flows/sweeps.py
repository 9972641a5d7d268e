"""The scheduled sweep: what no person's action triggers.

The register's calendar (reminders, the submission window, the lapse of R4, each mailed once);
reminders before a pause's due date to whoever must act, and late reviews escalated to KP;
the reconciler, which hands decisions to runs that did not get them and
replaces runs that are lost, dead or stuck; withdrawals whose own run did not close the case;
expired pauses; and mail that could not be sent while SMTP was down. Last, the sweep writes
down that it ran: pages say "this heals by itself" only while sweeps keep coming. Every part,
and every case within a part, fails on its own: one error never holds up the rest, and the
report counts what happened per cause, errors included.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State

from flows.case_closure import case_closure
from settings import get_settings
from tasks.deadlines import overdue_cases, send_deadline_reminders
from tasks.mail import deliver_mail
from tasks.reconcile import Action, Repair, plan_repairs, repair_case
from tasks.registrations import mark_lapsed_registrations, send_calendar_notices
from tasks.sweep_log import sweep_done


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
async def find_repairs() -> list[Repair]:
    """Open cases whose run disagrees with what the database says they await."""
    return await plan_repairs()


@flow(name="sweep")
async def sweep(today: date | None = None) -> dict[str, int]:
    """Idempotent; safe to run as often as the schedule likes."""
    day = today or get_settings().current_date()
    report: Counter[str] = Counter()

    notices = await _outcome(report, send_calendar_notices(day, return_state=True)) or {}
    report.update({f"notice:{kind}": count for kind, count in notices.items()})
    report["lapsed"] = await _outcome(report, mark_lapsed_registrations(day, return_state=True))

    # Prefect types an async task's return_state=True call as a State; it is a coroutine.
    repairs = await _outcome(report, await find_repairs(return_state=True)) or []  # type: ignore[misc]
    per_sweep = get_settings().repair.per_sweep
    if len(repairs) > per_sweep:
        report["repairs_left"] = len(repairs) - per_sweep
    for repair in repairs[:per_sweep]:
        if repair.action is Action.CLOSE:
            closed = await case_closure(repair.case_id, "withdrawn", day, return_state=True)
            done = "closed" if await _outcome(report, closed) else "settled"
        else:
            done = await _outcome(report, await repair_case(repair, return_state=True))  # type: ignore[misc]
        if done:
            report[f"{done}:{repair.cause}"] += 1

    chased = await _outcome(report, send_deadline_reminders(day, return_state=True)) or {}
    report.update({kind: count for kind, count in chased.items() if count})

    for case_id in await _outcome(report, overdue_cases(day, return_state=True)) or []:
        expired = await case_closure(case_id, "expired", day, return_state=True)
        report["expired"] += bool(await _outcome(report, expired))

    sending = deliver_mail.with_options(retries=1, retry_delay_seconds=2)
    report["mailed"] = await _outcome(report, await sending(return_state=True)) or 0  # type: ignore[misc]
    await _outcome(report, sweep_done(dict(report), return_state=True))
    return dict(report)


async def _outcome(report: Counter[str], state: State[Any]) -> Any:
    """A part's result, or None after counting its failure in the report."""
    if state.is_completed():
        return await state.aresult()
    report["errors"] += 1
    return None
