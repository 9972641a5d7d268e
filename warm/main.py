"""`herregistratie executor`: the warm executor for one work pool, until SIGTERM or Ctrl-C.
On a stop, runs in progress may reach their next pause; what is cut off is re-claimed."""

from __future__ import annotations

import asyncio
import math
import signal
import socket
from contextlib import suppress

from prefect.settings import PREFECT_WORKER_QUERY_SECONDS, temporary_settings

from settings import get_settings
from stack.processes import PROJECT_DIR, entrypoints
from warm.pool import ChildPool
from warm.worker import WarmWorker


def default_name(pool: str) -> str:
    """Stable over restarts on one machine: a restarted executor recognises its own runs."""
    return f"warm-{pool}-{socket.gethostname()}"


async def serve(pool: str, name: str, *, processes: int | None = None,
                threads: int | None = None) -> None:
    """Serve `pool` until SIGTERM: by default in `warm_processes` processes sharing the pool's
    concurrency between their threads."""
    prefect = get_settings().prefect
    processes = processes or prefect.warm_processes
    children = ChildPool(
        size=processes, threads=threads or math.ceil(prefect.concurrency / processes),
        project_dir=str(PROJECT_DIR), entrypoints=entrypoints(pool),
        recycle_runs=prefect.warm_recycle_runs,
        recycle_bytes=prefect.warm_recycle_mb * 1024 * 1024)
    worker = WarmWorker(pool, name=name, pool=children,
                        heartbeat_interval_seconds=prefect.heartbeat_seconds)
    stopping = asyncio.current_task()
    assert stopping is not None
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stopping.cancel)
    # Prefect's events wake the worker: polling is only the fallback for a lost event stream.
    with suppress(asyncio.CancelledError), temporary_settings(
            {PREFECT_WORKER_QUERY_SECONDS: prefect.fallback_query_seconds}):
        await worker.start()
