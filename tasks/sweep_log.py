"""The sweep's last step: its report written down, so pages know the reconciler is alive."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from models.db import session_scope
from models.sweep import record_sweep


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def sweep_done(report: dict[str, Any]) -> None:
    """One row per finished sweep (a week of them kept)."""
    with session_scope() as session:
        record_sweep(session=session, report=report)
