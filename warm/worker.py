"""The warm executor: a Prefect worker whose runs execute in a few long-lived processes that
imported the flows once, instead of a fresh Python process per run.

A resumed case run is a few seconds of work after a person's click; starting Prefect in a new
process took longer than the work. This worker claims runs exactly as Prefect's process worker
does (it proposes Pending, so two executors never run one run), but hands each to a warm
process (warm/pool.py). It is woken by Prefect's events when a run is scheduled or resumed, and
polls as well, in case the event stream is down.

What a shared process changes, and how it is handled:
- a process that dies takes several runs with it: the worker knows which, and puts them back
  to Scheduled at once (forced, so Prefect keeps their pause inputs);
- a worker killed outright leaves its runs Running: under the same name, its successor
  re-claims them when it starts (the reconciler in the sweep covers any other loss);
- cancelling a run cancels its task, never a process;
- no per-run environment variables or job variables: the flows need none.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any
from uuid import UUID

import anyio.abc
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventAnyResourceFilter, EventFilter, EventNameFilter
from prefect.states import Crashed, Scheduled
from prefect.workers.base import BaseWorkerResult
from prefect.workers.process import ProcessJobConfiguration, ProcessVariables

from models.db import utcnow
from settings import get_settings
from tasks.runs import RunPhase, observe_runs
from warm.child import CANCELLED, DIED
from warm.pool import ChildPool
from warm.prefect_internals import WorkerInternals

WAKING_EVENTS = ["prefect.flow-run.Scheduled", "prefect.flow-run.Resuming",
                 "prefect.flow-run.AwaitingRetry"]
CANCELLING_EVENT = "prefect.flow-run.Cancelling"
TAKEN_BACK = "Het proces dat deze run uitvoerde is gestopt; de run is opnieuw ingepland."
HELD_SLOT = ("Beëindigd door de executor: de run bleef in {state} zonder teken van leven en "
             "hield een plaats van de werkpool vast.")


class WarmResult(BaseWorkerResult):
    """How an execution in a warm process ended (0: the run reached a pause or its end)."""


class WarmWorker(WorkerInternals[ProcessJobConfiguration, ProcessVariables, WarmResult]):
    type = "herregistratie-warm"
    job_configuration = ProcessJobConfiguration
    job_configuration_variables = ProcessVariables
    description = "Voert runs uit in warme processen die de flows al geladen hebben."

    def __init__(self, work_pool_name: str, *, name: str, pool: ChildPool,
                 grace_seconds: float = 10, **kwargs: Any) -> None:
        super().__init__(work_pool_name=work_pool_name, name=name,
                         create_pool_if_not_found=False, **kwargs)
        self.pool = pool
        self.pool_name = work_pool_name
        self.grace_seconds = grace_seconds
        self._entrypoints: dict[UUID, str] = {}
        self._wake = asyncio.Event()
        self._executing = 0
        self._background: list[asyncio.Task[None]] = []

    async def setup(self) -> None:
        await super().setup()
        self.pool.on_change = self._wake.set
        await self.pool.start()
        await self._reclaim_left_behind()
        self._background = [asyncio.create_task(self._submit_when_woken()),
                            asyncio.create_task(self._listen()),
                            asyncio.create_task(self._watch_cancellations()),
                            asyncio.create_task(self._free_held_slots())]

    async def teardown(self, *exc_info: Any) -> None:
        """Lets running executions reach their pause, re-claims what is cut off, then stops."""
        for background in self._background:
            background.cancel()
        await self.pool.stop(self.grace_seconds)
        with anyio.move_on_after(15):
            while self._executing:
                await asyncio.sleep(0.05)
        await super().teardown(*exc_info)

    def room(self) -> int:
        return self.pool.free_slots()

    async def run(self, flow_run: FlowRun, configuration: ProcessJobConfiguration,
                  task_status: anyio.abc.TaskStatus[int] | None = None) -> WarmResult:
        self._executing += 1
        try:
            execution = await self.pool.submit(flow_run, await self._entrypoint(flow_run))
            if task_status is not None:
                # No process id for Prefect to store: cancelling goes through this worker.
                task_status.started(0)
            outcome = await execution.outcome
            if outcome == DIED:
                await self._reclaim(flow_run.id)
            elif outcome == CANCELLED:
                await self.mark_cancelled(
                    await self.client.read_flow_run(flow_run.id), "Geannuleerd.")
            return WarmResult(identifier=str(execution.pid), status_code=0)
        finally:
            self._executing -= 1

    async def _entrypoint(self, flow_run: FlowRun) -> str:
        deployment_id = flow_run.deployment_id
        if deployment_id is None:
            raise ValueError(f"flow run {flow_run.id} has no deployment to execute")
        if deployment_id not in self._entrypoints:
            deployment = await self.client.read_deployment(deployment_id)
            self._entrypoints[deployment_id] = deployment.entrypoint or ""
        return self._entrypoints[deployment_id]

    async def _reclaim(self, flow_run_id: UUID) -> None:
        """Back to Scheduled, forced: without force Prefect would reset the run's pause keys,
        and the pause it reaches again could never take its input."""
        run = await self.client.read_flow_run(flow_run_id)
        if run.state is not None and (run.state.is_running() or run.state.is_pending()):
            await self.client.set_flow_run_state(
                flow_run_id, Scheduled(message=TAKEN_BACK), force=True)
            self.log.info("Run %s opnieuw ingepland: zijn proces stopte", flow_run_id)
            self._wake.set()

    async def _reclaim_left_behind(self) -> None:
        """Runs a predecessor under this name left Running or Pending (it was killed)."""
        runs = await self.client.read_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[self.pool_name])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.RUNNING, StateType.PENDING]))))
        for run in runs:
            if run.labels.get("prefect.worker.name") == self.name:
                await self._reclaim(run.id)

    async def _submit_when_woken(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.get_and_submit_flow_runs()
            except Exception:
                self.log.debug("Ophalen na een wekker mislukt", exc_info=True)

    async def _listen(self) -> None:
        """Prefect's events wake the worker when a run in its pool is scheduled or resumed,
        and cancel an execution whose run is being cancelled; the polling loop covers the
        time the event stream is down."""
        while not self.has_work_pool:
            await asyncio.sleep(0.2)
        event_filter = EventFilter(
            event=EventNameFilter(name=[*WAKING_EVENTS, CANCELLING_EVENT]),
            any_resource=EventAnyResourceFilter(id=[f"prefect.work-pool.{self.work_pool.id}"]))
        while True:
            try:
                async with get_events_subscriber(filter=event_filter) as subscriber:
                    async for event in subscriber:
                        if event.event == CANCELLING_EVENT:
                            self.pool.cancel(event.resource.id.removeprefix("prefect.flow-run."))
                        else:
                            self._wake.set()
            except Exception:
                self.log.debug("Gebeurtenissenstroom onderbroken", exc_info=True)
            await asyncio.sleep(5)

    async def _free_held_slots(self, every: float = 15) -> None:
        """Nothing may hold this pool's slots for good. A run left Pending by a claimer that
        died (a power cut between Pending and Running), or Running without a sign of life,
        counts against the pool's concurrency limit until its state changes: the sweep's pool
        runs one at a time, so one such run kept every later sweep Late, and with the sweep
        the reconciler. Such runs are ended here, by the pool's own executor, which needs no
        sweep to run; runs this executor executes are left alone."""
        while True:
            await asyncio.sleep(every)
            try:
                await self._end_held_slots()
            except Exception:
                self.log.debug("Vastzittende runs nakijken mislukt", exc_info=True)

    async def _end_held_slots(self) -> None:
        limits = get_settings().repair
        runs = await self.client.read_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[self.pool_name])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.RUNNING, StateType.PENDING]))))
        mine = set(self.pool.owned_runs()) | {str(i) for i in self.claiming}
        candidates = [str(run.id) for run in runs if str(run.id) not in mine]
        if not candidates:
            return
        now = utcnow()
        for run_id, view in (await observe_runs(candidates)).items():
            if view.phase is RunPhase.PENDING:
                quiet = view.since
                limit = limits.pending_seconds
            elif view.phase is RunPhase.RUNNING:
                quiet = max(filter(None, (view.since, view.last_sign)), default=None)
                limit = limits.zombie_seconds
            else:
                continue
            if quiet is None or (now - quiet).total_seconds() < limit:
                continue
            await self.client.set_flow_run_state(
                UUID(run_id), Crashed(message=HELD_SLOT.format(state=view.state_name)),
                force=True)
            self.log.warning("Run %s beëindigd: hield een plaats van de werkpool vast "
                                 "(%s sinds %s)", run_id, view.state_name, quiet)

    async def _watch_cancellations(self, every: float = 10) -> None:
        """Polling fallback for cancellations missed while the event stream was down."""
        while True:
            await asyncio.sleep(every)
            owned = self.pool.owned_runs()
            if not owned:
                continue
            with suppress(Exception):
                runs = await self.client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[UUID(run) for run in owned])))
                for run in runs:
                    if run.state is not None and run.state.is_cancelling():
                        self.pool.cancel(str(run.id))
