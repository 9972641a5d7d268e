"""Engine and sessions. One engine per process and URL; sessions never cross threads or loops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from settings import get_settings


def utcnow() -> datetime:
    return datetime.now(UTC)


@cache
def _engine(url: str, pid: int) -> Engine:
    """A forked runner process must not reuse its parent's connections, hence the pid key."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def get_engine(url: str | None = None) -> Engine:
    return _engine(url or get_settings().database_url, os.getpid())


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


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
