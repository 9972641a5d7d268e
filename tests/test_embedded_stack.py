"""The embedded stack on its private PostgreSQL cluster (issue 18): the cluster as root and as
a normal user, a leftover server replaced, one stack per data folder, ports that cannot be
taken for another stack's, and a backup that restores a walked case whole."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from adapters.blobs import store_blob
from models.db import migrate, session_scope
from models.document import Document, DocumentKind
from service.actions import act, open_case
from settings import get_settings
from stack.backup import backup, restore
from stack.postgres import NOBODY, Cluster
from stack.processes import Stack, StackError, _owns_port, claim_folder, free_port, release_folder
from tests.conftest import ASSOCIATION, herreg_env, offline_settings, smtp_server
from tests.factories import request
from tests.replay import run_case
from tests.test_step_plan import REQUEST_DATE, TO_REVIEW, reviewer, walk

PROJECT = Path(__file__).resolve().parent.parent


def query(cluster: Cluster, sql: str) -> Any:
    engine = create_engine(cluster.url("postgres"))
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_the_cluster_runs_when_the_stack_is_started_by_root(tmp_path: Path) -> None:
    """PostgreSQL refuses root; as root the server is `nobody` in a user namespace of its own,
    its files stay root's, and nothing outside the folder changes."""
    folder = tmp_path / "pg"
    with Cluster(home=folder, socket_dir=folder, durable=False) as cluster:
        assert query(cluster, "SELECT current_user") == "postgres"
        assert query(cluster, "SELECT count(*) FROM pg_available_extensions "
                              "WHERE name = 'pg_trgm'") == 1  # Prefect's migrations need it
        assert cluster.process is not None
        uid_map = Path(f"/proc/{cluster.process.pid}/uid_map").read_text().split()
        if os.geteuid() == 0:
            assert uid_map[:3] == [str(NOBODY), "0", "1"], uid_map
        assert (folder / "data" / "PG_VERSION").stat().st_uid == os.geteuid()
        assert oct((folder / ".s.PGSQL.5432").stat().st_mode & 0o777) == "0o700"


def test_the_cluster_runs_when_the_stack_is_started_by_a_normal_user(tmp_path: Path) -> None:
    """The same code in a process that is not root (a user namespace in which this test's
    child is `nobody`): initdb and the server run directly, without a namespace of their own."""
    if os.geteuid() != 0:
        pytest.skip("this test process is already a normal user: the test above covers it")
    script = (
        "import os; from pathlib import Path; from stack.postgres import Cluster\n"
        "assert os.geteuid() != 0\n"
        f"folder = Path({str(tmp_path / 'pg')!r})\n"
        "with Cluster(home=folder, socket_dir=folder, durable=False) as c:\n"
        "    assert c.process.args[0].endswith('/postgres'), c.process.args\n"
        "    c.ensure_databases(('herregistratie',))\n"
        "    import psycopg2\n"
        "    con = psycopg2.connect(host=str(folder), user='postgres', dbname='herregistratie')\n"
        "    cur = con.cursor(); cur.execute('select 41 + 1'); print(cur.fetchone()[0])\n"
        "    con.close()\n")
    done = subprocess.run(["unshare", "--user", f"--map-user={NOBODY}",
                           f"--map-group={NOBODY}", sys.executable, "-c", script],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "42", done.stderr


@pytest.fixture
def stack_settings(tmp_path: Path) -> Iterator[Path]:
    with herreg_env(environment="test", data_dir=str(tmp_path / "data"), database__url="",
                    prefect__server_database_url=""):
        yield tmp_path / "data"


def test_one_stack_per_data_folder_and_a_leftover_server_is_replaced(
        stack_settings: Path) -> None:
    leftover = Cluster.of(get_settings(), durable=False)
    leftover.start()  # as a stack killed outright leaves its database server behind
    first = Stack(settings=get_settings(), durable=False)
    try:
        first.start_database()
        assert leftover.process is not None and leftover.process.wait(timeout=30) == 0
        assert first.children["postgres"].process.poll() is None
        second = Stack(settings=get_settings())
        with pytest.raises(StackError, match="Er draait al een stack met de gegevens in"):
            second.start_database()
    finally:
        first.stop()
    handle = claim_folder(stack_settings.resolve())  # free again once the stack stopped
    release_folder(handle)


def test_two_stacks_starting_on_one_port_at_once_each_get_their_own_server(
        tmp_path: Path) -> None:
    """Seen before: both took port 4200, the loser accepted the winner's /health and died in
    `prefect work-pool create`. Now the server that answers must be the stack's own child."""
    port = free_port()
    stacks: list[Stack] = []
    for name in ("een", "twee"):
        with herreg_env(environment="test", data_dir=str(tmp_path / name), database__url=""):
            stacks.append(Stack(settings=get_settings(), port=port, durable=False))
    errors: list[BaseException] = []

    def start(stack: Stack) -> None:
        try:
            stack.start_database()
            stack.start_server()
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=start, args=(s,)) for s in stacks]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not errors, errors
        assert stacks[0].port != stacks[1].port and port in {s.port for s in stacks}
        for stack in stacks:
            server = stack.children["prefect-server"].process.pid
            assert _owns_port(server, stack.port)
            login = tuple(stack.settings.prefect.auth_string.split(":", 1))
            assert httpx.get(f"{stack.api_url}/admin/version", auth=login).status_code == 200
            assert stack.env()["PREFECT_API_DATABASE_CONNECTION_URL"].startswith(
                "postgresql+asyncpg://")
            assert not list((stack.settings.data_dir / "prefect").glob("*.db"))  # no SQLite
    finally:
        for stack in stacks:
            stack.stop()


def test_a_taken_fixed_port_is_one_dutch_line_from_the_runner(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HERREG_", "PREFECT_"))}
        done = subprocess.run(
            [str(Path(sys.executable).parent / "herregistratie"), "runner"], cwd=tmp_path,
            env={**env, "HERREG_ENVIRONMENT": "development",
                 "HERREG_DATA_DIR": str(tmp_path / "data"),
                 "HERREG_PREFECT__API_URL": f"http://127.0.0.1:{port}/api"},
            capture_output=True, text=True, timeout=300, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert lines[-1] == (f"Fout: Poort {port} voor de Prefect-server is al in gebruik door een "
                         "ander programma. Stop dat programma, of kies een andere poort met "
                         "HERREG_PREFECT__API_URL.")
    assert "Traceback" not in done.stderr


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {table: [tuple(row) for row in connection.execute(
                text(f'SELECT * FROM "{table}" ORDER BY 1'))]
                for table in sorted(inspect(connection).get_table_names())}
    finally:
        engine.dispose()


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


async def test_a_backup_restores_a_walked_case_whole(tmp_path: Path, prefect_down: str) -> None:
    """Walked to its certificate, with a document sent: backed up from the stopped stack,
    restored into a fresh data folder, every row and every file is there as it was."""
    first, second = tmp_path / "first", tmp_path / "second"
    with smtp_server(tmp_path / "smtp") as box, offline_settings("", first, prefect_down, box):
        with Cluster.of(get_settings(), durable=False) as cluster:
            cluster.ensure_databases(("herregistratie",))
            migrate()
            opened = await open_case(request(REQUEST_DATE), actor=ASSOCIATION)
            with session_scope() as session:
                content = b"%PDF-1.4\nportfolio\n%%EOF\n"
                session.add(Document(case_id=opened.case_id, kind=DocumentKind.PORTFOLIO,
                                     filename="portfolio.pdf", media_type="application/pdf",
                                     size=len(content), sha256=store_blob(content),
                                     uploaded_by_role=ASSOCIATION.role, uploaded_by="Anne"))
            assert await walk(opened.number, opened.case_id, TO_REVIEW) == "findings-1"
            await act(opened.number, "findings", {"outcome": "positive"},
                      actor=reviewer(opened.case_id))
            assert await run_case(opened.case_id) == "certified"
            rows = snapshot(get_settings().database_url)
        documents = files(get_settings().documents_dir)
        assert len(documents) == 3  # the portfolio, the invoice and the certificate
        assert rows["case"] and rows["caseevent"] and rows["outboxmail"] and rows["invoice"]
        made = backup(get_settings(), tmp_path / "backup.tar.gz")  # the stack is stopped
        assert made.documents == 3

    with herreg_env(environment="test", data_dir=str(second), database__url=""):
        restore(get_settings(), made.path)
        with Cluster.of(get_settings(), durable=False):
            assert snapshot(get_settings().database_url) == rows
        assert files(get_settings().documents_dir) == documents
        with pytest.raises(StackError, match="De database bevat al gegevens"):
            restore(get_settings(), made.path)
        held = claim_folder(second.resolve())  # as a running stack holds it
        try:
            with pytest.raises(StackError, match="draait; stop die eerst"):
                restore(get_settings(), made.path, replace=True)
        finally:
            release_folder(held)
        restore(get_settings(), made.path, replace=True)
        with Cluster.of(get_settings(), durable=False):
            assert snapshot(get_settings().database_url) == rows
            engine = create_engine(get_settings().database_url)
            with engine.connect() as connection:  # numbering goes on where it was
                following = connection.execute(text(
                    "SELECT nextval(pg_get_serial_sequence('\"case\"', 'id'))")).scalar()
                highest = connection.execute(text('SELECT max(id) FROM "case"')).scalar()
            engine.dispose()
            assert following == highest + 1
