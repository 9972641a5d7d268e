"""Every part of Prefect the warm executor uses that Prefect does not promise to keep.

Read from Prefect 3.8.8, the version pinned in constraints.txt: the engine's entry point for one
flow run and the logging setup of a flow process, two module attributes replaced once per warm
process, the background services flushed before it exits, and the private names of Prefect's
worker that the warm worker overrides or reads. Nothing else in the project reaches into Prefect
this way. tests/test_prefect_internals.py checks each of them against the installed Prefect, so
an upgrade that moves one fails that test by name; re-read them against the new version, then
change READ_FROM.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import ssl
import types
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import prefect.client.orchestration
import prefect.flow_engine
from prefect.client.schemas.objects import FlowRun, WorkPool
from prefect.client.schemas.responses import WorkerFlowRunResponse
from prefect.events.worker import EventsWorker
from prefect.flow_engine import run_flow
from prefect.logging.configuration import setup_logging
from prefect.logging.handlers import APILogWorker
from prefect.workers.base import BaseJobConfiguration, BaseVariables, BaseWorker, BaseWorkerResult

READ_FROM = "3.8.8"

__all__ = ["READ_FROM", "WorkerInternals", "flush_services", "run_flow", "setup_logging",
           "share_tls_contexts", "skip_suspension_watch"]


@functools.cache
def _default_context(purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, *, cafile: str | None = None,
                     capath: str | None = None, cadata: str | None = None) -> ssl.SSLContext:
    return ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)


def share_tls_contexts() -> None:
    """Every Prefect client loads the certificate bundle into a new TLS context (see
    PrefectHQ/prefect#19106), and the engine makes a client for every task run: Prefect's
    clients in this process share one context per bundle instead. Replaces the `ssl` module
    that `prefect.client.orchestration` reads `create_default_context` from."""
    shared = types.ModuleType("ssl")
    shared.__dict__.update(vars(ssl))
    shared.create_default_context = _default_context  # type: ignore[attr-defined]
    prefect.client.orchestration.ssl = shared  # type: ignore[attr-defined]


@contextlib.contextmanager
def _no_suspension_watch(*_args: Any, **_kwargs: Any) -> Iterator[None]:
    yield


def skip_suspension_watch() -> None:
    """The engine starts, for every run, a thread with an event-stream connection of its own to
    notice a suspension requested from outside. A case run suspends itself at its pauses, and
    suspending it from outside is not offered (the stock worker still watches for it).
    Replaces `observe_flow_run_suspension`, which `run_flow` looks up in its module."""
    prefect.flow_engine.observe_flow_run_suspension = _no_suspension_watch  # type: ignore[attr-defined]


def flush_services(timeout: float = 5) -> None:
    """Logs and events of the last runs reach the server before the process ends."""
    for service in (APILogWorker, EventsWorker):
        service.drain_all(timeout=timeout)


C = TypeVar("C", bound=BaseJobConfiguration)
V = TypeVar("V", bound=BaseVariables)
R = TypeVar("R", bound=BaseWorkerResult)


class WorkerInternals(BaseWorker[C, V, R], abc.ABC):
    """Prefect's worker with the private names the warm worker needs, each used only here.

    A subclass states what it is (`description`, `type`) and how many runs it can start now
    (`room`); claiming stays Prefect's own, trimmed to that room. Abstract (`abc.ABC` among its
    bases), so Prefect's registry of worker types skips it."""

    description: ClassVar[str] = ""

    @classmethod
    def get_description(cls) -> str:
        return cls.description

    @abc.abstractmethod
    def room(self) -> int:
        """How many more runs this worker can start at once."""

    @property
    def claiming(self) -> set[UUID]:
        """Runs this worker is claiming (proposed Pending) and has not yet handed on."""
        return self._submitting_flow_run_ids

    @property
    def log(self) -> Any:
        """The worker's logger, as Prefect names it (it reaches the worker's page)."""
        return self._logger

    @property
    def has_work_pool(self) -> bool:
        """Whether the pool has been read from the server (after the first sync)."""
        return self._work_pool is not None

    def _record_work_pool_snapshot(self, work_pool: WorkPool) -> None:
        # The pool is a process pool: this worker reads the same job template, and the stock
        # process worker can serve the pool instead. Recorded under this worker's own type,
        # Prefect does not warn of a mismatch at every sync.
        super()._record_work_pool_snapshot(work_pool.model_copy(update={"type": self.type}))

    async def _submit_scheduled_flow_runs(
            self, flow_run_response: list[WorkerFlowRunResponse]) -> list[FlowRun]:
        """Claims no more runs than there is room for: a claimed run that waits for a slot is
        a run another executor could have started."""
        room = max(self.room() - len(self._submitting_flow_run_ids), 0)
        return await super()._submit_scheduled_flow_runs(flow_run_response[:room])

    async def mark_cancelled(self, flow_run: FlowRun, message: str) -> None:
        """Ends a run as Cancelled the way Prefect's own workers do."""
        await self._mark_flow_run_as_cancelled(flow_run, state_updates={"message": message})
