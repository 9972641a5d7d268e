"""The embedded stack on loopback: Prefect server (SQLite unless configured), the deployments
from prefect.yaml, a worker for case runs and one for the sweep (its own pool, so case runs
can never take the sweep's slot), and the web app. A supervisor restarts any of them that
dies, so a killed worker is back within seconds."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from settings import Settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
PREFECT_YAML = PROJECT_DIR / "prefect.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _deployments() -> list[dict[str, Any]]:
    """The deployments of prefect.yaml (the one place they live)."""
    deployments: list[dict[str, Any]] = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    return deployments


def work_pools() -> dict[str, str]:
    """Deployment name -> work pool."""
    return {d["name"]: d["work_pool"]["name"] for d in _deployments()}


def entrypoints(pool: str) -> list[str]:
    """The flows of the deployments a work pool serves (loaded once by a warm executor)."""
    return sorted({d["entrypoint"] for d in _deployments() if d["work_pool"]["name"] == pool})


def case_pool() -> str:
    return work_pools()["lapsed-specialisation"]


def sweep_pool() -> str:
    return work_pools()["sweep"]


@dataclass
class Child:
    name: str
    args: tuple[str, ...]
    process: subprocess.Popen[bytes]
    restarts: int = 0
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    """Child processes of one embedded stack; `stop()` ends them all. `persist_task_results`
    is turned off only by tests, to show that replays are safe without Prefect's result cache."""

    settings: Settings
    port: int
    ui: bool = False
    log_dir: Path | None = None
    persist_task_results: bool = True
    children: dict[str, Child] = field(default_factory=dict)
    _supervisor: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        home = (self.settings.data_dir / "prefect").resolve()
        prefect = self.settings.prefect
        env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if self.ui else "false",
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": str(self.persist_task_results).lower(),
            "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
            "PREFECT_WORKER_QUERY_SECONDS": str(prefect.query_seconds),
            "PREFECT_WORKER_PREFETCH_SECONDS": "2",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            # The server runs without CSRF protection (Prefect's default): a client need not
            # ask for a token before its first change, a request per client and so per run.
            "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "false",
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(prefect.heartbeat_seconds),
            "HERREG_PROJECT_DIR": str(PROJECT_DIR),
            "HERREG_ENVIRONMENT": self.settings.environment,
            "HERREG_PREFECT__API_URL": self.api_url,
            "HERREG_DATA_DIR": str(self.settings.data_dir.resolve()),
            "HERREG_DATABASE__URL": self.settings.database_url,
            "HERREG_SMTP__URL": self.settings.smtp.url,
            "HERREG_LINKS__BASE_URL": self.settings.links.base_url,
            "HERREG_WEB__PORT": str(self.settings.web.port),
            "HERREG_PREFECT__EXECUTOR": prefect.executor,
        }
        if prefect.auth_string:
            env["PREFECT_SERVER_API_AUTH_STRING"] = prefect.auth_string
            env["PREFECT_API_AUTH_STRING"] = prefect.auth_string
            env["HERREG_PREFECT__AUTH_STRING"] = prefect.auth_string
        if prefect.server_database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect.server_database_url
        if self.settings.today is not None:
            env["HERREG_TODAY"] = self.settings.today.isoformat()
        return env

    def _open(self, name: str, args: tuple[str, ...],
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_dir = self.log_dir or self.settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / f"{name}.log").open("ab")
        return subprocess.Popen(args, env={**self.env(), **(env or {})}, cwd=PROJECT_DIR,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> Child:
        child = Child(name, args, self._open(name, args, env), env=env or {})
        with self._lock:
            self.children[name] = child
        return child

    def _prefect(self) -> str:
        return shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"

    def start_server(self, timeout: float = 120) -> None:
        child = self._spawn("prefect-server", self._prefect(), "server", "start",
                            "--host", "127.0.0.1", "--port", str(self.port))
        self._wait_until_up(f"{self.api_url}/health", child, timeout)
        self._announce()

    def _announce(self) -> None:
        """The command line in another terminal finds this stack through its data folder."""
        found = stack_file(self.settings.data_dir)
        found.parent.mkdir(parents=True, exist_ok=True)
        found.touch(mode=0o600)
        found.write_text("".join(f"{key}={value}\n" for key, value in self.env().items()
                                 if key.startswith("HERREG_")))

    def deploy(self) -> None:
        """Create the work pools (if needed) and apply prefect.yaml."""
        env = self.env()

        def prefect(*args: str) -> None:
            subprocess.run([self._prefect(), *args], env=env, cwd=PROJECT_DIR, check=True,
                           capture_output=True)

        prefect("work-pool", "create", case_pool(), "--type", "process", "--overwrite")
        prefect("work-pool", "set-concurrency-limit", case_pool(),
                str(self.settings.prefect.concurrency))
        prefect("work-pool", "create", sweep_pool(), "--type", "process", "--overwrite")
        # One sweep at a time: a long one (a repair storm) delays the next, never overlaps it.
        prefect("work-pool", "set-concurrency-limit", sweep_pool(), "1")
        prefect("--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_YAML))

    def start_worker(self) -> None:
        """Case runs go to the warm executor (`herregistratie executor`), or with
        HERREG_PREFECT__EXECUTOR=stock to Prefect's process worker, a process per run. The
        sweep, once a minute, keeps the process worker. No `--limit` on a process worker:
        prefect 3.8.8's worker limiter crashes the worker when a resumed run is picked up
        while its suspended process still holds a token. The pool's concurrency limit (set
        in `deploy`) bounds the processes instead."""
        self._spawn("worker", *self._case_worker())
        self._spawn("sweep-worker", self._prefect(), "worker", "start", "--pool", sweep_pool(),
                    env={"PREFECT_WORKER_QUERY_SECONDS":
                         str(self.settings.prefect.fallback_query_seconds)})

    def _herregistratie(self) -> str:
        return str(Path(sys.executable).parent / "herregistratie")

    def use_executor(self, kind: str) -> None:
        """Serve case runs with the other executor from now on (the benchmark compares them)."""
        prefect = self.settings.prefect.model_copy(update={"executor": kind})
        self.settings = self.settings.model_copy(update={"prefect": prefect})
        with self._lock:
            child = self.children.pop("worker")
        _end(child.process)
        self._spawn("worker", *self._case_worker())

    def _case_worker(self) -> tuple[str, ...]:
        if self.settings.prefect.executor == "warm":
            return (self._herregistratie(), "executor", "--pool", case_pool())
        return (self._prefect(), "worker", "start", "--pool", case_pool())

    def start_web(self, timeout: float = 60) -> str:
        """The web app (`herregistratie web`) on the configured loopback port."""
        web = self.settings.web
        child = self._spawn("web", self._herregistratie(), "web")
        url = f"http://{web.host}:{web.port}"
        self._wait_until_up(f"{url}/inloggen", child, timeout)
        return url

    def _wait_until_up(self, url: str, child: Child, timeout: float) -> None:
        """Until `url` answers 200; fails early if the process just started has died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} stopped; see its log in the data folder")
            time.sleep(0.3)
        raise TimeoutError(f"{child.name} did not answer on {url}")

    def start(self) -> None:
        self.start_server()
        self.deploy()
        self.start_worker()

    def supervise(self, every: float = 1.0) -> None:
        """Restart, from a background thread, any child that exits before `stop()`."""
        def watch() -> None:
            while not self._stopping.wait(every):
                with self._lock:
                    dead = [c for c in self.children.values() if c.process.poll() is not None]
                for child in dead:
                    self.restart(child.name)

        self._supervisor = threading.Thread(target=watch, name="stack-supervisor", daemon=True)
        self._supervisor.start()

    def restart(self, name: str) -> None:
        """Start a child again (stopping it first if it still runs)."""
        with self._lock:
            child = self.children[name]
            if child.process.poll() is None:
                _end(child.process)
            child.process = self._open(name, child.args, child.env)
            child.restarts += 1

    def kill(self, name: str) -> None:
        """SIGKILL a child with everything it started (for fault tests)."""
        with self._lock:
            child = self.children[name]
            for pid in [*descendants(child.process.pid), child.process.pid]:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            child.process.wait()

    def stop(self) -> None:
        stack_file(self.settings.data_dir).unlink(missing_ok=True)
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            processes = [c.process for c in reversed(self.children.values())]
            self.children.clear()
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            _end(process)


def stack_file(data_dir: Path) -> Path:
    """Where a running stack writes its settings (HERREG_* lines) for the command line."""
    return data_dir.resolve() / "stack.env"


def read_stack_file(data_dir: Path) -> dict[str, str]:
    found = stack_file(data_dir)
    if not found.is_file():
        return {}
    pairs = (line.split("=", 1) for line in found.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def descendants(pid: int) -> list[int]:
    """Every process started, directly or not, by `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM, without a traceback (children are already started, so
    the blocked mask is not inherited by them)."""
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    signal.sigwait(signals)
