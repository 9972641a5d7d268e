"""Backups of what a stack holds: our case database (pg_dump, from the same PostgreSQL package
as the cluster) and the documents folder (uploads and the papers made, by hash), in one file.

Prefect's database is not in it: a run is a disposable executor of a case, and after a restore
the sweep's reconciler gives every open case a fresh run that replays to the pause the case
awaits. A backup is taken from a running stack (pg_dump reads one consistent snapshot) or from
a stopped one (its cluster is started for the dump, and stopped again); a restore goes into a
stopped stack only, into an empty database unless `replace` is asked for.

The file is a gzipped tar: `manifest.json`, `herregistratie.dump` (pg_dump's custom format)
and `documents/ab/abcdef...` as they lie in the documents folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from settings import Settings
from stack.postgres import Cluster, ClusterError, server_binaries
from stack.processes import StackError, claim_folder, release_folder

FORMAT = 1
DUMP = "herregistratie.dump"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BackupReport:
    path: Path
    documents: int
    bytes: int


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """pg_dump's and pg_restore's connection options (and password) for a SQLAlchemy URL."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise StackError("Een backup kan alleen van een PostgreSQL-database "
                         "(HERREG_DATABASE__URL).")
    host = str(parsed.query.get("host") or parsed.host or "")
    args = ["-d", str(parsed.database)]
    args += ["-h", host] if host else []
    args += ["-p", str(parsed.port)] if parsed.port else []
    args += ["-U", parsed.username] if parsed.username else []
    env = {**os.environ, "PGPASSWORD": parsed.password} if parsed.password else dict(os.environ)
    return args, env


def _reachable(url: str) -> bool:
    import psycopg2

    args, env = _libpq(url)
    options = dict(zip(args[::2], args[1::2], strict=True))
    try:
        psycopg2.connect(dbname=options["-d"], host=options.get("-h"), port=options.get("-p"),
                         user=options.get("-U"), password=env.get("PGPASSWORD"),
                         connect_timeout=5).close()
    except psycopg2.OperationalError:
        return False
    return True


@contextmanager
def _database(settings: Settings, *, for_restore: bool) -> Iterator[Cluster | None]:
    """The case database reachable for the duration: a running stack's, or, on a stopped
    stack with a private cluster, that cluster started for the while (its data folder held,
    so no stack starts meanwhile). A restore refuses a running stack."""
    folder = settings.data_dir.resolve()
    try:
        lock = claim_folder(folder)
    except StackError:
        if for_restore:
            raise StackError(f"De stack in {folder} draait; stop die eerst (Ctrl-C in haar "
                             "venster) en herstel dan.") from None
        yield None  # a running stack: dump its database as it runs
        return
    cluster = Cluster.of(settings) if not settings.database.url else None
    try:
        if cluster is not None:
            try:
                cluster.start()
                cluster.ensure_databases((_database_name(settings),))
            except ClusterError as err:
                raise StackError(str(err)) from err
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        release_folder(lock)


def _database_name(settings: Settings) -> str:
    return str(make_url(settings.database_url).database)


def _documents(settings: Settings) -> list[Path]:
    root = settings.documents_dir
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def backup(settings: Settings, target: Path,
           progress: Callable[[str], None] = lambda _text: None) -> BackupReport:
    """Write the case database and the documents folder to `target` (one file)."""
    with _database(settings, for_restore=False), tempfile.TemporaryDirectory() as work:
        dump = Path(work) / DUMP
        args, env = _libpq(settings.database_url)
        if not _reachable(settings.database_url):
            raise StackError("De database is niet bereikbaar; controleer HERREG_DATABASE__URL.")
        progress("Database wegschrijven (pg_dump) ...")
        done = subprocess.run([str(server_binaries() / "pg_dump"), "-Fc", "--no-owner",
                               "-f", str(dump), *args], env=env, capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"pg_dump mislukte: {done.stderr.strip()[-300:]}")
        files = _documents(settings)
        progress(f"Documenten toevoegen: {len(files)} bestanden ...")
        manifest = {"format": FORMAT, "made": datetime.now(UTC).isoformat(),
                    "database": _database_name(settings), "documents": len(files)}
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        with tarfile.open(partial, "w:gz") as archive:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(data), int(datetime.now(UTC).timestamp())
            archive.addfile(info, io.BytesIO(data))
            archive.add(dump, arcname=DUMP)
            for path in files:
                archive.add(path, arcname=f"documents/{path.relative_to(settings.documents_dir)}")
        os.replace(partial, target)  # a backup that is there is whole
    return BackupReport(target, len(files), target.stat().st_size)


def restore(settings: Settings, source: Path, *, replace: bool = False,
            progress: Callable[[str], None] = lambda _text: None) -> BackupReport:
    """Load a backup into a stopped stack: the database, then the documents, each checked
    against its hash. Refused into a database that holds cases, unless `replace`."""
    with _database(settings, for_restore=True) as cluster, \
            tempfile.TemporaryDirectory() as work:
        _unpack(source, Path(work))
        documents = Path(work) / "documents"
        files = sorted(p for p in documents.rglob("*") if p.is_file()) \
            if documents.is_dir() else []
        for path in files:  # all checked before anything is changed
            if hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
                raise StackError(f"Document {path.name} in de backup is beschadigd.")
        name = _database_name(settings)
        if _holds_data(settings) and not replace:
            raise StackError("De database bevat al gegevens; herstel in een lege map, of "
                             "vervang ze met --vervang.")
        progress("Database terugzetten (pg_restore) ...")
        if cluster is not None:
            cluster.drop_database(name)
            cluster.ensure_databases((name,))
        else:
            _empty_schema(settings)
        args, env = _libpq(settings.database_url)
        done = subprocess.run([str(server_binaries() / "pg_restore"), "--no-owner",
                               "--exit-on-error", *args, str(Path(work) / DUMP)],
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"pg_restore mislukte: {done.stderr.strip()[-300:]}")
        progress(f"Documenten terugzetten: {len(files)} bestanden ...")
        target = settings.documents_dir
        if replace and target.is_dir():
            shutil.rmtree(target)
        for path in files:
            destination = target / path.relative_to(documents)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    return BackupReport(source, len(files), source.stat().st_size)


def _unpack(source: Path, work: Path) -> None:
    """The backup's files into `work` (no path may leave it), its manifest checked."""
    not_ours = f"{source} is geen backup van herregistratie"
    try:
        with tarfile.open(source, "r:gz") as archive:
            if not {MANIFEST, DUMP} <= set(archive.getnames()):
                raise StackError(f"{not_ours}.")
            archive.extractall(work, filter="data")
    except (OSError, tarfile.TarError) as err:
        raise StackError(f"{not_ours} ({err}).") from err
    manifest = json.loads((work / MANIFEST).read_text())
    if manifest.get("format") != FORMAT:
        raise StackError(f"{source} heeft een onbekend formaat ({manifest.get('format')}).")


def _holds_data(settings: Settings) -> bool:
    """Whether the database holds anything of an office (a migrated, empty one does not)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            return any(connection.execute(text(f'SELECT 1 FROM "{table}" LIMIT 1')).first()
                       for table in ("case", "practitioner", "staffuser", "registration")
                       if table in tables)
    finally:
        engine.dispose()


def _empty_schema(settings: Settings) -> None:
    """An external database is emptied, not dropped (the install may not own it)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
