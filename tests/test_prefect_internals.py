"""The private parts of Prefect the warm executor uses are still where warm/prefect_internals.py
read them, and used nowhere else. A Prefect upgrade that moves one fails here by name."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import prefect
import prefect.client.orchestration
import prefect.flow_engine
import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.workers.base import BaseWorker

from warm import prefect_internals
from warm.pool import ChildPool
from warm.worker import WarmWorker

ROOT = Path(__file__).resolve().parent.parent
ENGINE: Any = prefect.flow_engine
CLIENTS: Any = prefect.client.orchestration
PRIVATE_MODULES = ("prefect.flow_engine", "prefect.logging.configuration",
                   "prefect.logging.handlers", "prefect.events.worker")


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_installed_prefect_is_the_version_they_were_read_from() -> None:
    assert prefect.__version__ == prefect_internals.READ_FROM, (
        f"Prefect is {prefect.__version__}, warm/prefect_internals.py was read from "
        f"{prefect_internals.READ_FROM}: re-read each private part it names against the new "
        "version, then change READ_FROM")


def test_the_patched_module_attributes_are_still_looked_up_where_they_are_replaced() -> None:
    orchestration = inspect.getsource(CLIENTS)
    assert CLIENTS.ssl.__name__ == "ssl", "Prefect's client module no longer imports ssl"
    assert "ssl.create_default_context(" in orchestration, (
        "Prefect's client no longer builds its TLS context through the module's `ssl`: "
        "share_tls_contexts() would do nothing")
    assert callable(ENGINE.observe_flow_run_suspension)
    assert "observe_flow_run_suspension(" in inspect.getsource(ENGINE), (
        "run_flow no longer watches for suspension through observe_flow_run_suspension: "
        "skip_suspension_watch() would do nothing")


def test_the_patches_take_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CLIENTS, "ssl", CLIENTS.ssl)
    monkeypatch.setattr(ENGINE, "observe_flow_run_suspension", ENGINE.observe_flow_run_suspension)
    prefect_internals.share_tls_contexts()
    prefect_internals.skip_suspension_watch()
    shared = CLIENTS.ssl
    assert shared.create_default_context() is shared.create_default_context()
    with ENGINE.observe_flow_run_suspension("any run", "any client"):
        pass


def test_the_engine_and_services_keep_their_signatures() -> None:
    assert parameters(prefect_internals.run_flow)[:2] == ["flow", "flow_run"]
    assert "return_type" in parameters(prefect_internals.run_flow)
    assert parameters(prefect_internals.setup_logging) == ["incremental"]
    for service in (APILogWorker, EventsWorker):
        assert "timeout" in parameters(service.drain_all), service


def test_the_worker_internals_are_still_there() -> None:
    assert parameters(BaseWorker._record_work_pool_snapshot) == ["self", "work_pool"]
    assert parameters(BaseWorker._submit_scheduled_flow_runs) == ["self", "flow_run_response"]
    assert parameters(BaseWorker._mark_flow_run_as_cancelled) == [
        "self", "flow_run", "state_updates"]
    worker = WarmWorker("any-pool", name="internals", pool=ChildPool(
        size=1, threads=1, project_dir=str(ROOT), entrypoints=[], recycle_runs=1,
        recycle_bytes=1))
    assert worker.claiming == set() and worker.claiming is worker._submitting_flow_run_ids
    assert worker.log is worker._logger
    assert worker.has_work_pool is False
    assert WarmWorker.get_description() == WarmWorker.description != ""


def _private_names() -> set[str]:
    """Underscore names of Prefect's worker, on the class and on an instance."""
    instance_names = set()
    for node in ast.walk(ast.parse(inspect.getsource(BaseWorker.__init__).lstrip())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "self":
            instance_names.add(node.attr)
    names = set(dir(BaseWorker)) | instance_names
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def test_no_other_module_reaches_into_prefect() -> None:
    """Private modules, names of Prefect's worker and assignments into Prefect's modules appear
    only in warm/prefect_internals.py."""
    private = _private_names()
    assert {"_submitting_flow_run_ids", "_logger", "_work_pool"} <= private
    found: list[str] = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ("tests", "bench", ".venv") or \
                relative == Path("warm/prefect_internals.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{relative}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module in PRIVATE_MODULES or "._" in node.module
                    or node.module.startswith("prefect._")):
                found.append(f"{where} imports {node.module}")
            elif isinstance(node, ast.Import):
                found += [f"{where} imports {a.name}" for a in node.names
                          if a.name in PRIVATE_MODULES or a.name.startswith("prefect._")]
            elif isinstance(node, ast.Attribute) and node.attr in private \
                    and relative.parts[0] == "warm":
                found.append(f"{where} uses {node.attr}")
            elif isinstance(node, ast.Assign):
                found += [f"{where} assigns {ast.unparse(t)}" for t in node.targets
                          if ast.unparse(t).startswith("prefect.")]
    assert found == []
