"""The worker's side of its warm processes: start them (spawned, never forked: Prefect's engine
deadlocks in a forked process), hand each a run, learn how it ended, notice a death at once,
and recycle a process after a number of runs or above a memory limit."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from prefect.client.schemas.objects import FlowRun

from warm.child import CANCEL, DIED, DONE, READY, RUN, STOP, serve


@dataclass(eq=False)
class Child:
    process: BaseProcess
    conn: Connection
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    executions: dict[str, asyncio.Future[str]] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)  # token -> flow run id
    served: int = 0
    rss: int = 0
    retiring: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def send(self, *message: Any) -> None:
        with suppress(OSError):  # a dead child is noticed by its reader
            self.conn.send(message)


@dataclass(frozen=True)
class Execution:
    token: str
    pid: int
    outcome: asyncio.Future[str]


class ChildPool:
    """`size` processes with `threads` runs each at most. A run's outcome is DIED when its
    process ended under it; the caller then re-claims the run."""

    def __init__(self, *, size: int, threads: int, project_dir: str, entrypoints: list[str],
                 recycle_runs: int, recycle_bytes: int,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.size, self.threads = size, threads
        self.project_dir, self.entrypoints = project_dir, entrypoints
        self.recycle_runs, self.recycle_bytes = recycle_runs, recycle_bytes
        self.on_change = on_change  # a slot came free, or a process died
        self.children: list[Child] = []
        self.started = 0
        self._slot = asyncio.Condition()
        self._stopping = False
        self._died_loading = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Until every process has loaded the flows; one that dies meanwhile (it printed why)
        stops the executor, whose supervisor starts it again, rather than leave it waiting."""
        self._loop = asyncio.get_running_loop()
        for _ in range(self.size):
            self._spawn()
        loading = {asyncio.ensure_future(c.ready.wait()) for c in self.children}
        died = asyncio.ensure_future(self._died_loading.wait())
        while loading and not died.done():
            _, loading = await asyncio.wait(loading | {died},
                                            return_when=asyncio.FIRST_COMPLETED)
            loading.discard(died)
        for future in (*loading, died):
            future.cancel()
        if self._died_loading.is_set():
            raise RuntimeError("een warm proces stopte tijdens het laden van de flows")

    def free_slots(self) -> int:
        return sum(self.threads - len(c.executions) for c in self.children if not c.retiring)

    def owned_runs(self) -> set[str]:
        return {run for child in self.children for run in child.runs.values()}

    async def submit(self, flow_run: FlowRun, entrypoint: str) -> Execution:
        """Hands the run to the least busy ready process, waiting for a free slot."""
        async with self._slot:
            child = await self._slot.wait_for(self._least_busy)
            assert child is not None
            token = uuid.uuid4().hex
            outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            child.executions[token], child.runs[token] = outcome, str(flow_run.id)
            child.send(RUN, token, entrypoint, flow_run.model_dump(mode="json"))
            return Execution(token, child.pid, outcome)

    def cancel(self, flow_run_id: str) -> bool:
        for child in self.children:
            for token, run in child.runs.items():
                if run == flow_run_id:
                    child.send(CANCEL, token)
                    return True
        return False

    async def stop(self, grace_seconds: float) -> None:
        """Lets the processes finish their runs for `grace_seconds`, then ends them; runs still
        executing then get DIED (and are re-claimed by the caller)."""
        self._stopping = True
        for child in self.children:
            child.send(STOP)
        pending = [f for child in self.children for f in child.executions.values()]
        if pending:
            await asyncio.wait(pending, timeout=grace_seconds)
        for child in list(self.children):
            if child.process.is_alive():
                child.process.kill()
        await asyncio.to_thread(self._join_all)

    def _join_all(self) -> None:
        for child in list(self.children):
            child.process.join(timeout=10)

    def _least_busy(self) -> Child | None:
        ready = [c for c in self.children if c.ready.is_set() and not c.retiring
                 and len(c.executions) < self.threads]
        return min(ready, key=lambda c: len(c.executions)) if ready else None

    def _spawn(self) -> Child:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve, args=(theirs, self.project_dir, self.entrypoints, self.threads),
            name="herregistratie-warm", daemon=True)
        process.start()
        theirs.close()
        child = Child(process, ours)
        self.children.append(child)
        self.started += 1
        threading.Thread(target=self._read, args=(child,), name=f"warm-pipe-{child.pid}",
                         daemon=True).start()
        return child

    def _read(self, child: Child) -> None:
        """A thread per process: its messages, and its death, go to the event loop (unless
        the executor is stopping and its loop is gone: then nobody needs to hear it)."""
        assert self._loop is not None
        loop = self._loop
        with suppress(RuntimeError):  # "Event loop is closed", on the way out
            while True:
                try:
                    message = child.conn.recv()
                except (EOFError, OSError):
                    loop.call_soon_threadsafe(self._ended, child)
                    return
                loop.call_soon_threadsafe(self._received, child, message)

    def _received(self, child: Child, message: tuple[Any, ...]) -> None:
        if message[0] == READY:
            child.ready.set()
            self._notify()
        elif message[0] == DONE:
            _, token, outcome, rss = message
            child.runs.pop(token, None)
            if (future := child.executions.pop(token, None)) and not future.done():
                future.set_result(outcome)
            child.served, child.rss = child.served + 1, rss
            if not child.retiring and (child.served >= self.recycle_runs
                                       or rss >= self.recycle_bytes):
                self._retire(child)
            if child.retiring and not child.executions:
                child.send(STOP)
            self._notify()

    def _retire(self, child: Child) -> None:
        """No new runs for this process; a fresh one takes its place at once."""
        child.retiring = True
        if not self._stopping:
            self._spawn()

    def _ended(self, child: Child) -> None:
        if not child.ready.is_set():
            self._died_loading.set()
        for future in child.executions.values():
            if not future.done():
                future.set_result(DIED)
        child.executions.clear()
        child.runs.clear()
        with suppress(ValueError):
            self.children.remove(child)
        if not child.retiring and not self._stopping:
            self._spawn()
        threading.Thread(target=child.process.join, daemon=True).start()  # reap it
        self._notify()

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._slot:
                self._slot.notify_all()

        asyncio.ensure_future(wake())
        self.on_change()
