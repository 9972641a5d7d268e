"""The embedded stack on loopback: its private PostgreSQL cluster (unless both databases are
configured elsewhere), the Prefect server, the deployments from prefect.yaml, a worker for case
runs and one for the sweep (its own pool, so case runs can never take the sweep's slot), and the
web app. A supervisor restarts any of them that dies, so a killed worker is back within
seconds. One stack per data folder: a second one is refused, in Dutch, before it touches it."""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from settings import CLUSTER_DATABASES, Settings
from stack.postgres import Cluster, ClusterError

PROJECT_DIR = Path(__file__).resolve().parent.parent
PREFECT_YAML = PROJECT_DIR / "prefect.yaml"
PORT_ATTEMPTS = 5
DEPLOYED = "herregistratie_deployed"  # a Prefect variable: the fingerprint last deployed


class StackError(Exception):
    """The stack cannot start; the message says, in one Dutch line, what to do."""


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


def deployment_names() -> list[str]:
    """`flow/deployment` of each deployment (the flow's name is its entrypoint function's,
    with dashes, as Prefect names it)."""
    return [f"{d['entrypoint'].rsplit(':', 1)[1].replace('_', '-')}/{d['name']}"
            for d in _deployments()]


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
    stop_signal: int = signal.SIGTERM


@dataclass
class Stack:
    """Child processes of one embedded stack; `stop()` ends them all. `persist_task_results`
    is turned off only by tests, to show that replays are safe without Prefect's result cache.

    Ports: `port` (Prefect's API) and the web app's port from the settings are taken as given
    with `fixed_ports` (production: links and proxies point at them); otherwise a port that
    another program holds is swapped for a free one. Either way the server that answers must
    be this stack's own child (`_owns_port`), never a neighbour's on the same port."""

    settings: Settings
    port: int = 0
    ui: bool = False
    log_dir: Path | None = None
    persist_task_results: bool = True
    fixed_ports: bool = False
    durable: bool = True
    children: dict[str, Child] = field(default_factory=dict)
    _supervisor: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _held: set[str] = field(default_factory=set)
    _folder_lock: int | None = None

    def __post_init__(self) -> None:
        if not self.settings.prefect.auth_string:
            # Every stack's API has a password: it is also how nothing else passes for it.
            self._update_settings(prefect={"auth_string": f"stack:{secrets.token_urlsafe(16)}"})
        if not self.port:
            self.port = free_port()

    def _update_settings(self, **groups: dict[str, Any]) -> None:
        self.settings = self.settings.model_copy(update={
            name: getattr(self.settings, name).model_copy(update=values)
            for name, values in groups.items()})

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.settings.web.host}:{self.settings.web.port}"

    @property
    def logs(self) -> Path:
        return self.log_dir or self.settings.data_dir / "logs"

    def env(self) -> dict[str, str]:
        home = (self.settings.data_dir / "prefect").resolve()
        prefect = self.settings.prefect
        env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_API_DATABASE_CONNECTION_URL": self.settings.prefect_database_url,
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
            # Server services the stack has no use for: automations (triggers and their
            # actions), the foreman (work-pool and worker status) and the late-run marker.
            # Each costs the server CPU on every event or loop.
            "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
            "PREFECT_SERVER_API_AUTH_STRING": prefect.auth_string,
            "PREFECT_API_AUTH_STRING": prefect.auth_string,
            "HERREG_PROJECT_DIR": str(PROJECT_DIR),
            "HERREG_ENVIRONMENT": self.settings.environment,
            "HERREG_PREFECT__API_URL": self.api_url,
            "HERREG_PREFECT__AUTH_STRING": prefect.auth_string,
            "HERREG_DATA_DIR": str(self.settings.data_dir.resolve()),
            "HERREG_SMTP__URL": self.settings.smtp.url,
            "HERREG_LINKS__BASE_URL": self.settings.links.base_url,
            "HERREG_WEB__PORT": str(self.settings.web.port),
            "HERREG_PREFECT__EXECUTOR": prefect.executor,
        }
        if self.settings.database.url:  # else the children find the cluster from HERREG_DATA_DIR
            env["HERREG_DATABASE__URL"] = self.settings.database.url
        if self.settings.today is not None:
            env["HERREG_TODAY"] = self.settings.today.isoformat()
        return env

    def _open(self, name: str, args: tuple[str, ...],
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            return subprocess.Popen(args, env={**self.env(), **(env or {})}, cwd=PROJECT_DIR,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None,
               stop_signal: int = signal.SIGTERM) -> Child:
        child = Child(name, args, self._open(name, args, env), env=env or {},
                      stop_signal=stop_signal)
        with self._lock:
            self.children[name] = child
        return child

    def _prefect(self) -> str:
        return shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"

    # --- the data folder and its database --------------------------------------------------

    def claim_data_dir(self) -> None:
        """One stack per data folder, held for the stack's life."""
        if self._folder_lock is None:
            self._folder_lock = claim_folder(self.settings.data_dir.resolve())

    def start_database(self, timeout: float = 60) -> None:
        """The private PostgreSQL cluster (made on first use) with both databases, unless
        both are configured elsewhere (production's own PostgreSQL)."""
        self.claim_data_dir()
        if not self.settings.uses_cluster:
            return
        cluster = Cluster.of(self.settings, durable=self.durable)
        try:
            cluster.prepare()
            child = self._spawn("postgres", *cluster.server_command(),
                                stop_signal=signal.SIGINT)
            cluster.wait_ready(child.process, timeout, log=self.logs / "postgres.log")
            cluster.ensure_databases(tuple(
                name for key, name in CLUSTER_DATABASES.items()
                if not (self.settings.database.url if key == "cases"
                        else self.settings.prefect.server_database_url)))
        except ClusterError as err:
            raise StackError(str(err)) from err

    # --- Prefect ---------------------------------------------------------------------------

    def start_server(self, timeout: float = 120) -> None:
        def spawn() -> Child:
            return self._spawn("prefect-server", self._prefect(), "server", "start",
                               "--host", "127.0.0.1", "--port", str(self.port))

        def move() -> None:
            self.port = free_port()

        self._start_listening(spawn, lambda: self.port, move, "/api/health", timeout,
                              "de Prefect-server", "HERREG_PREFECT__API_URL")
        self._announce()

    def _announce(self) -> None:
        """The command line in another terminal finds this stack through its data folder."""
        found = stack_file(self.settings.data_dir)
        found.parent.mkdir(parents=True, exist_ok=True)
        found.touch(mode=0o600)
        found.write_text("".join(f"{key}={value}\n" for key, value in self.env().items()
                                 if key.startswith("HERREG_")))

    def deploy(self) -> None:
        """Create or update the work pools and apply prefect.yaml. Skipped when nothing it
        depends on changed since the last time on this Prefect server (a fingerprint kept in a
        Prefect variable), so a restart does not spend seconds deploying what is there."""
        fingerprint = self._deployment_fingerprint()
        with httpx.Client(base_url=self.api_url, timeout=30,
                          auth=_login(self.settings.prefect.auth_string)) as api:
            found = api.get(f"/variables/name/{DEPLOYED}")
            if found.status_code == 200 and found.json().get("value") == fingerprint and all(
                    api.get(f"/deployments/name/{name}").status_code == 200
                    for name in deployment_names()):
                return
            self._work_pool(api, case_pool(), self.settings.prefect.concurrency)
            # One sweep at a time: a long one (a repair storm) delays the next, never
            # overlaps it.
            self._work_pool(api, sweep_pool(), 1)
            done = subprocess.run(
                [self._prefect(), "--no-prompt", "deploy", "--all", "--prefect-file",
                 str(PREFECT_YAML)], env=self.env(), cwd=PROJECT_DIR, capture_output=True,
                text=True, check=False)
            if done.returncode != 0:
                last = (done.stderr or done.stdout).strip().splitlines()[-1:]
                raise StackError(f"`prefect deploy` mislukte ({''.join(last)}); zie de "
                                 f"logbestanden in {self.logs}.")
            if found.status_code == 200:
                api.patch(f"/variables/name/{DEPLOYED}", json={"value": fingerprint})
            else:
                api.post("/variables/", json={"name": DEPLOYED, "value": fingerprint})

    def _deployment_fingerprint(self) -> str:
        """What a deployment is made of: prefect.yaml, the flows' code (their parameters),
        the pools' limits and this project's folder."""
        digest = hashlib.sha256(PREFECT_YAML.read_bytes())
        for entrypoint in sorted({d["entrypoint"] for d in _deployments()}):
            digest.update((PROJECT_DIR / entrypoint.split(":", 1)[0]).read_bytes())
        digest.update(f"{self.settings.prefect.concurrency}:{PROJECT_DIR}".encode())
        return digest.hexdigest()

    @staticmethod
    def _work_pool(api: httpx.Client, name: str, limit: int) -> None:
        """A process work pool with Prefect's own job template and a concurrency limit, as
        `prefect work-pool create --type process --overwrite` makes it, by one API call."""
        from prefect.workers.process import ProcessWorker

        pool = {"base_job_template": ProcessWorker.get_default_base_job_template(),
                "concurrency_limit": limit}
        made = api.post("/work_pools/", json={"name": name, "type": "process", **pool})
        if made.status_code == 409:
            made = api.patch(f"/work_pools/{name}", json=pool)
        if made.is_error:
            raise StackError(f"De werkpool {name} kon niet worden aangemaakt ({made.status_code}: "
                             f"{made.text[:200]}).")

    def start_worker(self) -> None:
        """Case runs go to the warm executor (`herregistratie executor`), or with
        HERREG_PREFECT__EXECUTOR=stock to Prefect's process worker, a process per run. The
        sweep, once a minute and one at a time, has a warm executor of its own with one
        process and one thread: a process worker started a Python process for every sweep,
        some 3 CPU seconds a minute on an idle stack."""
        self._spawn("worker", *self._case_worker())
        self._spawn("sweep-worker", self._herregistratie(), "executor", "--pool", sweep_pool(),
                    "--processen", "1", "--draden", "1")

    def _herregistratie(self) -> str:
        return str(Path(sys.executable).parent / "herregistratie")

    def use_executor(self, kind: str) -> None:
        """Serve case runs with the other executor from now on (the benchmark compares them)."""
        self._update_settings(prefect={"executor": kind})
        with self._lock:
            child = self.children.pop("worker")
        _end(child.process, child.stop_signal)
        self._spawn("worker", *self._case_worker())

    def _case_worker(self) -> tuple[str, ...]:
        if self.settings.prefect.executor == "warm":
            return (self._herregistratie(), "executor", "--pool", case_pool())
        return (self._prefect(), "worker", "start", "--pool", case_pool())

    # --- the web app -----------------------------------------------------------------------

    def start_web(self, timeout: float = 60, env: dict[str, str] | None = None) -> str:
        """The web app (`herregistratie web`) on the configured loopback port; its URL. `env`:
        settings of its own (a test's small database pool)."""
        def spawn() -> Child:
            return self._spawn("web", self._herregistratie(), "web", env=env)

        def move() -> None:
            old, port = self.web_url, free_port()
            links = self.settings.links.base_url
            self._update_settings(web={"port": port})
            if links == old:  # links in mails point at this very server
                self._update_settings(links={"base_url": self.web_url})

        self._start_listening(spawn, lambda: self.settings.web.port, move, "/inloggen",
                              timeout, "de webapplicatie", "HERREG_WEB__PORT")
        self._announce()
        return self.web_url

    # --- starting a server on a port that is really its own --------------------------------

    def _start_listening(self, spawn: Callable[[], Child], port: Callable[[], int],
                         move: Callable[[], None], path: str, timeout: float, what: str,
                         setting: str) -> None:
        """Start a server and wait until it answers on its port *as this stack's child*: a
        neighbour already on the port answers too, and is not taken for ours. If our child
        ends because the port was taken, it is started again on a free port, unless the ports
        are fixed; then the error names the port and the setting to change."""
        for _attempt in range(PORT_ATTEMPTS):
            child = spawn()
            if self._wait_until_up(child, port(), path, timeout):
                return
            log = self.logs / f"{child.name}.log"
            if not _port_taken(port()):
                last = log.read_text(errors="replace").strip().splitlines()[-1:] \
                    if log.is_file() else []
                raise StackError(f"{what.capitalize()} stopte bij het starten ({''.join(last)}); "
                                 f"zie {log}.")
            if self.fixed_ports:
                raise StackError(
                    f"Poort {port()} voor {what} is al in gebruik door een ander programma. "
                    f"Stop dat programma, of kies een andere poort met {setting}.")
            move()
        raise StackError(f"{what.capitalize()} kon op geen enkele vrije poort starten; zie "
                         f"{self.logs}.")

    def _wait_until_up(self, child: Child, port: int, path: str, timeout: float) -> bool:
        """True once `path` answers 200 and the port is held by `child`; False if the child
        ended first (e.g. the port was taken); StackError if neither happens in time."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{port}{path}"
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                with self._lock:
                    self.children.pop(child.name, None)
                return False
            with suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200 and \
                        _owns_port(child.process.pid, port):
                    return True
            time.sleep(0.2)
        raise StackError(f"{child.name} gaf binnen {timeout:.0f} s geen antwoord op {url}; zie "
                         f"{self.logs / (child.name + '.log')}.")

    # --- the whole stack -------------------------------------------------------------------

    def start(self) -> None:
        """Database (migrated), Prefect server, deployments and workers."""
        from models.db import migrate

        self.start_database()
        migrate(self.settings.database_url)
        self.start_server()
        self.deploy()
        self.start_worker()

    def supervise(self, every: float = 1.0) -> None:
        """Restart, from a background thread, any child that exits before `stop()`."""
        def watch() -> None:
            while not self._stopping.wait(every):
                with self._lock:
                    dead = [c for c in self.children.values()
                            if c.process.poll() is not None and c.name not in self._held]
                for child in dead:
                    self.restart(child.name)

        self._supervisor = threading.Thread(target=watch, name="stack-supervisor", daemon=True)
        self._supervisor.start()

    def restart(self, name: str) -> None:
        """Start a child again (stopping it first if it still runs)."""
        with self._lock:
            child = self.children[name]
            if child.process.poll() is None:
                _end(child.process, child.stop_signal)
            child.process = self._open(name, child.args, child.env)
            child.restarts += 1

    def hold(self, name: str) -> None:
        """Stop a child and keep it stopped (a fault test's outage) until `release`."""
        with self._lock:
            self._held.add(name)
            child = self.children[name]
        _end(child.process, child.stop_signal)

    def release(self, name: str) -> None:
        """Let the supervisor start a held child again."""
        with self._lock:
            self._held.discard(name)

    def kill(self, name: str) -> None:
        """SIGKILL a child with everything it started (for fault tests)."""
        with self._lock:
            child = self.children[name]
            for pid in [*descendants(child.process.pid), child.process.pid]:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            child.process.wait()

    def kill_all(self) -> None:
        """SIGKILL every child with everything it started, at once: a power cut to the stack
        (the supervisor, like a machine's service manager, starts them again)."""
        with self._lock:
            pids = [pid for child in self.children.values()
                    for pid in [*descendants(child.process.pid), child.process.pid]]
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for child in self.children.values():
                child.process.wait()

    def stop(self) -> None:
        stack_file(self.settings.data_dir).unlink(missing_ok=True)
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            children = list(reversed(self.children.values()))  # the database last
            self.children.clear()
        for child in children:
            if child.name != "postgres" and child.process.poll() is None:
                child.process.send_signal(child.stop_signal)
        for child in children:
            _end(child.process, child.stop_signal)
        if self._folder_lock is not None:
            release_folder(self._folder_lock)
            self._folder_lock = None


def claim_folder(folder: Path) -> int:
    """Hold a data folder: a second stack (or a restore) there is refused. The kernel lets go
    when the holder's process ends, however it ends. Returns the handle to release."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / "stack.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(handle)
        raise StackError(
            f"Er draait al een stack met de gegevens in {folder}. Stop die eerst (Ctrl-C in "
            "haar venster), of kies een andere map met --data-dir.") from None
    return handle


def release_folder(handle: int) -> None:
    os.close(handle)


def stack_file(data_dir: Path) -> Path:
    """Where a running stack writes its settings (HERREG_* lines) for the command line."""
    return data_dir.resolve() / "stack.env"


def read_stack_file(data_dir: Path) -> dict[str, str]:
    found = stack_file(data_dir)
    if not found.is_file():
        return {}
    pairs = (line.split("=", 1) for line in found.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _end(process: subprocess.Popen[bytes], stop_signal: int = signal.SIGTERM) -> None:
    with suppress(ProcessLookupError):
        process.send_signal(stop_signal)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _login(auth_string: str) -> tuple[str, str]:
    user, _, password = auth_string.partition(":")
    return user, password


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _owns_port(pid: int, port: int) -> bool:
    """Whether the process `pid`, or one it started, listens on the loopback `port` (matched
    through the socket's inode in /proc/net/tcp and the processes' open files)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    for candidate in [pid, *descendants(pid)]:
        with suppress(OSError):
            for handle in Path(f"/proc/{candidate}/fd").iterdir():
                with suppress(OSError):
                    if os.readlink(handle) in inodes:
                        return True
    return False


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
