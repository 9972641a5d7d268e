"""The retry policy of every task that touches a case: database hiccups and outages are
retried with backoff; a domain refusal (a closed case, a wrong state) is an answer, not a
failure, and a register policy that is missing or invalid is a configuration error: both are
raised at once."""

from __future__ import annotations

from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from domain.errors import CaseError
from policies import PolicyError


def _retry_unless_domain_error(_task: Task[Any, Any], _run: TaskRun, state: State[Any]) -> bool:
    return not isinstance(state.result(raise_on_failure=False), CaseError | PolicyError)


# Covers a database restart of about half a minute (1 + 5 + 20 + 60 s of waiting).
case_task = task(retries=4, retry_delay_seconds=[1, 5, 20, 60],
                 retry_condition_fn=_retry_unless_domain_error)
# The pause tasks read the database every time, never a cached result: a run that Prefect
# executes again must not be told "nothing decided yet" about a pause that was answered.
pause_task = task(retries=4, retry_delay_seconds=[1, 5, 20, 60],
                  retry_condition_fn=_retry_unless_domain_error, cache_policy=NO_CACHE)
