"""What the command line runs besides acting on cases: the database's schema, the daily
sweep and the register's calendar, mail waiting in the outbox, and the Prefect API the
service talks to."""

from __future__ import annotations

from datetime import date
from typing import Any

from models.db import migrate as migrate
from tasks.mail import deliver_pending
from tasks.registrations import mark_lapsed_registrations, send_calendar_notices
from tasks.runs import PREFECT_DOWN as PREFECT_DOWN  # the errors that mean Prefect is away
from tasks.runs import configured_api as configured_api


async def sweep(today: date | None = None) -> dict[str, Any]:
    """The daily sweep, here and now, as its schedule runs it: its report per part."""
    from flows.sweeps import sweep as scheduled_sweep

    return await scheduled_sweep(today=today)


async def calendar_today(today: date) -> int:
    """The register's calendar for one day outside the sweep (the demo shows it): reminders
    and lapse notices sent, lapsed registrations taken out of the public register; how many
    lapsed."""
    notices = send_calendar_notices.fn(today)  # the lapse notice also marks it lapsed (R4)
    lapsed = notices.get("lapse", 0) + mark_lapsed_registrations.fn(today)
    await deliver_pending()
    return lapsed
