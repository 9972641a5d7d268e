"""A throwaway PostgreSQL cluster on a free loopback port, for tests and benchmarks that stop
and start "the database" on purpose.

Why not the machine's PostgreSQL on 127.0.0.1:5432: it is shared (other work on this machine
uses it), so it must never be stopped. A fault test that takes our database away for 30 s
starts a cluster of its own with `initdb` in a temporary folder, stops and starts that one, and
removes it at the end.

    with PgCluster() as cluster:
        url = cluster.url(cluster.create_database("herreg"))
        cluster.stop()   # fast shutdown: open connections are cut, new ones refused
        cluster.start()  # same port, same data

`initdb` and `postgres` refuse to run as root; as root they run as the `postgres` OS user
(`runuser`), in a folder that user owns. Durability is switched off (fsync, full-page writes):
the data is thrown away anyway, and a fast shutdown still writes everything out.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from cli.stack import free_port

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/17/bin")
OS_USER = "postgres"


def _bin(name: str) -> str:
    for folder in BIN_DIRS:
        path = Path(folder) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found (PostgreSQL server binaries)")
    return found


class PgCluster:
    """One cluster: `start()`, `stop()`, `url(dbname)`, `create_database(name)`; as a context
    manager it is started on entry and stopped and removed on exit."""

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="herreg-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = port or free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", OS_USER, "--", *args] if self.as_root else list(args)
        return subprocess.run(command, check=check, capture_output=True, text=True,
                              cwd=self.root)

    def _init(self) -> None:
        if self.as_root:
            user = pwd.getpwnam(OS_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")

    @property
    def running(self) -> bool:
        return self._run(_bin("pg_ctl"), "-D", str(self.data), "status",
                         check=False).returncode == 0

    def start(self, timeout: int = 60) -> None:
        """Start (initialising on first use) and wait until it accepts connections."""
        if not (self.data / "PG_VERSION").exists():
            self._init()
        options = " ".join([
            f"-p {self.port}", "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.root}", "-c fsync=off",
            "-c full_page_writes=off", "-c synchronous_commit=off", "-c max_connections=300",
        ])
        done = self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                         "-o", options, "-w", "-t", str(timeout), "start", check=False)
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {done.stdout}{done.stderr}\n"
                               f"{self.log.read_text()[-2000:] if self.log.exists() else ''}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster: `fast` ends open connections at once (a crash looks like
        `immediate`)."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def url(self, dbname: str = "postgres", driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                      dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return name

    def remove(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.remove()
