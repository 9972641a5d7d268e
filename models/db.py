"""Engine and sessions. One engine per process and URL; sessions never cross threads or loops.

On SQLite every write transaction starts with `BEGIN IMMEDIATE` (SQLAlchemy's pysqlite recipe):
it takes the database's write lock up front, so "lock the case, check its state, write" is
serialised exactly as `SELECT ... FOR UPDATE` serialises it on PostgreSQL. Pages read through
`read_session()`, whose deferred transactions never wait for a writer (WAL).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from settings import get_settings

# What a database that is down, restarting or locked past its timeout raises, and a pool that
# had no connection free in time (a burst): either way nothing of the request was done.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every database: SQLite hands back naive values, which
    were written in UTC, so they get their zone back here rather than in every reader."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: use models.db.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


@cache
def _engine(url: str, pid: int) -> Engine:
    """A forked runner process must not reuse its parent's connections, hence the pid key."""
    if not url.startswith("sqlite"):
        pool = get_settings().database
        return create_engine(url, pool_pre_ping=True, pool_size=pool.pool_size,
                             max_overflow=pool.max_overflow, pool_timeout=pool.pool_timeout)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite must not emit its own BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def get_engine(url: str | None = None) -> Engine:
    return _engine(url or get_settings().database_url, os.getpid())


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One write transaction: commit on success, roll back on any error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def read_session(url: str | None = None) -> Session:
    """A session for reading (pages, reports): it does not take SQLite's write lock."""
    engine = get_engine(url).execution_options(sqlite_begin="DEFERRED")
    return Session(engine, expire_on_commit=False)


def migrate(url: str | None = None) -> None:
    """Bring the database to the newest schema with Alembic (empty database included)."""
    from alembic import command
    from alembic.config import Config

    from models import migrations

    target = url or get_settings().database_url
    if target.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(target.removeprefix("sqlite:///")) or ".", exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", os.path.dirname(migrations.__file__))
    cfg.set_main_option("sqlalchemy.url", target)
    command.upgrade(cfg, "head")
