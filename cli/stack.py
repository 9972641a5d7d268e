"""The embedded stack on loopback: Prefect server (SQLite unless configured), the deployments
from prefect.yaml on a process work pool, and a worker that runs (and resumes) case runs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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


def work_pool_name() -> str:
    """The pool named in prefect.yaml, so that file stays the one place deployments live."""
    config = yaml.safe_load(PREFECT_YAML.read_text())
    return str(config["deployments"][0]["work_pool"]["name"])


@dataclass
class Stack:
    """Child processes of one embedded stack; `stop()` ends them all. `persist_task_results`
    is turned off only by tests, to show that replays are safe without Prefect's result cache."""

    settings: Settings
    port: int
    ui: bool = False
    log_dir: Path | None = None
    persist_task_results: bool = True
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        home = (self.settings.data_dir / "prefect").resolve()
        env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if self.ui else "false",
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": str(self.persist_task_results).lower(),
            "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
            "PREFECT_WORKER_QUERY_SECONDS": str(self.settings.prefect.query_seconds),
            "PREFECT_WORKER_PREFETCH_SECONDS": "2",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            "HERREG_PROJECT_DIR": str(PROJECT_DIR),
            "HERREG_PREFECT__API_URL": self.api_url,
            "HERREG_DATA_DIR": str(self.settings.data_dir.resolve()),
            "HERREG_DATABASE__URL": self.settings.database_url,
            "HERREG_SMTP__URL": self.settings.smtp.url,
            "HERREG_LINKS__BASE_URL": self.settings.links.base_url,
            "HERREG_WEB__PORT": str(self.settings.web.port),
        }
        if self.settings.prefect.server_database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.settings.prefect.server_database_url
        if self.settings.today is not None:
            env["HERREG_TODAY"] = self.settings.today.isoformat()
        return env

    def _spawn(self, name: str, *args: str) -> None:
        log_dir = self.log_dir or self.settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / f"{name}.log").open("ab")
        self.processes.append(subprocess.Popen(
            args, env=self.env(), cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        ))

    def _prefect(self) -> str:
        return shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"

    def start_server(self, timeout: float = 120) -> None:
        self._spawn("prefect-server", self._prefect(), "server", "start", "--host", "127.0.0.1",
                    "--port", str(self.port))
        self._wait_until_up(f"{self.api_url}/health", "Prefect server", timeout)

    def deploy(self) -> None:
        """Create the work pool (if needed) and apply prefect.yaml."""
        env = self.env()
        pool = work_pool_name()
        subprocess.run([self._prefect(), "work-pool", "create", pool, "--type", "process",
                        "--overwrite"], env=env, cwd=PROJECT_DIR, check=True,
                       capture_output=True)
        subprocess.run([self._prefect(), "work-pool", "set-concurrency-limit", pool,
                        str(self.settings.prefect.concurrency)], env=env, cwd=PROJECT_DIR,
                       check=True, capture_output=True)
        subprocess.run([self._prefect(), "--no-prompt", "deploy", "--all",
                        "--prefect-file", str(PREFECT_YAML)], env=env, cwd=PROJECT_DIR,
                       check=True, capture_output=True)

    def start_worker(self) -> None:
        """No `--limit`: prefect 3.8.8's worker limiter crashes the worker when a resumed run
        is picked up while its suspended process still holds a token. The pool's concurrency
        limit (set in `deploy`) bounds the processes instead."""
        self._spawn("worker", self._prefect(), "worker", "start", "--pool", work_pool_name())

    def start_web(self, timeout: float = 60) -> str:
        """The web app (`herregistratie web`) on the configured loopback port."""
        web = self.settings.web
        script = Path(sys.executable).parent / "herregistratie"
        self._spawn("web", str(script), "web")
        url = f"http://{web.host}:{web.port}"
        self._wait_until_up(f"{url}/inloggen", "web app", timeout)
        return url

    def _wait_until_up(self, url: str, name: str, timeout: float) -> None:
        """Until `url` answers 200; fails early if the process just started has died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.processes[-1].poll() is not None:
                raise RuntimeError(f"{name} stopped; see its log in the data folder")
            time.sleep(0.3)
        raise TimeoutError(f"{name} did not answer on {url}")

    def start(self) -> None:
        self.start_server()
        self.deploy()
        self.start_worker()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM, without a traceback (children are already started, so
    the blocked mask is not inherited by them)."""
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    signal.sigwait(signals)
