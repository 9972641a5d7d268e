"""One warm process of the executor: the flows imported once, runs executed by Prefect's own
engine on a few threads, each with its own event loop.

Never on the main thread: there the engine installs its SIGTERM handler, and a suspension
watcher or a synchronous results call of one run would stall every other run on a shared loop.
The main thread only reads the pipe to the worker. When the worker is gone (the pipe closes),
the process ends at once: its runs stay Running and the worker's successor re-claims them.

Two costs Prefect's engine pays per run are made once per process here (`_once_per_process`),
through warm/prefect_internals.py like every other private part of Prefect.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
from concurrent.futures import Future, wait
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import Abort, Pause
from prefect.flows import load_flow_from_entrypoint

from warm.prefect_internals import (
    flush_services,
    run_flow,
    setup_logging,
    share_tls_contexts,
    skip_suspension_watch,
)

# Messages on the pipe, as tuples whose first item is one of these.
READY, RUN, CANCEL, STOP, DONE = "ready", "run", "cancel", "stop", "done"
# How an execution ended, as the worker is told.
FINISHED, SUSPENDED, ABORTED, ERROR, CANCELLED, DIED = (
    "finished", "suspended", "aborted", "error", "cancelled", "died")


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (this one by default), from /proc."""
    statm = Path(f"/proc/{pid or 'self'}/statm").read_text().split()
    return int(statm[1]) * os.sysconf("SC_PAGE_SIZE")


class LoopThread:
    """A thread running an event loop of its own, for the runs handed to it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.busy = 0
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()


async def execute(flow: Flow[..., Any], flow_run: FlowRun) -> str:
    """Runs one flow run to its next pause or its end, exactly as a flow process would."""
    try:
        running = run_flow(flow, flow_run=flow_run, return_type="state")
        assert inspect.isawaitable(running), "the case flows are async"
        await running
    except Pause:
        return SUSPENDED
    except Abort:
        return ABORTED  # Prefect refused a state change: another executor has the run
    except asyncio.CancelledError:
        return CANCELLED
    except Exception:
        return ERROR  # the run's state (Failed, Crashed) is in Prefect; the reconciler acts
    return FINISHED


def _once_per_process() -> None:
    """Measured on a burst, these two were about 60% of this process's CPU:
    - every Prefect client loads the certificate bundle into a new TLS context (see
      PrefectHQ/prefect#19106), and the engine makes a client for every task run: here
      Prefect's clients share one context per bundle;
    - every run starts a thread with an event-stream connection of its own, to notice a
      suspension requested from outside while it runs. A case run suspends itself at its
      pauses and runs for a second between them; suspending it from outside is not offered
      (the stock worker, HERREG_PREFECT__EXECUTOR=stock, still watches for it)."""
    share_tls_contexts()
    skip_suspension_watch()


def serve(conn: Connection, project_dir: str, entrypoints: list[str], threads: int) -> None:
    """The child's main: import the flows, say ready, then execute what the worker sends."""
    os.chdir(project_dir)
    setup_logging()
    _once_per_process()
    flows: dict[str, Flow[..., Any]] = {
        entrypoint: load_flow_from_entrypoint(entrypoint) for entrypoint in entrypoints}
    loops = [LoopThread(f"warm-run-{i}") for i in range(threads)]
    running: dict[str, Future[str]] = {}
    lock = threading.Lock()  # guards `running`, the loops' counts and the pipe

    def finished(token: str, loop: LoopThread, future: Future[str]) -> None:
        outcome = CANCELLED if future.cancelled() else future.result()
        with lock:
            loop.busy -= 1
            running.pop(token, None)
            conn.send((DONE, token, outcome, rss_bytes()))

    conn.send((READY, os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(1)  # the worker is gone: leave the runs to its successor
        if message[0] == RUN:
            _, token, entrypoint, flow_run_data = message
            flow = flows.get(entrypoint) or flows.setdefault(
                entrypoint, load_flow_from_entrypoint(entrypoint))
            with lock:
                loop = min(loops, key=lambda candidate: candidate.busy)
                loop.busy += 1
                future = asyncio.run_coroutine_threadsafe(
                    execute(flow, FlowRun.model_validate(flow_run_data)), loop.loop)
                running[token] = future
            future.add_done_callback(functools.partial(finished, token, loop))
        elif message[0] == CANCEL:
            with lock:
                cancelled = running.get(message[1])
            if cancelled is not None:
                cancelled.cancel()
        elif message[0] == STOP:
            break
    with lock:
        left = list(running.values())
    wait(left)  # the worker asked us to finish what we have
    flush_services()
    os._exit(0)

