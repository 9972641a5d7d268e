"""Alembic: from an empty database to head, and head matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import models  # noqa: F401
from models.db import migrate


def test_empty_database_migrates_to_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection),
                                       SQLModel.metadata)
    assert differences == []
    migrate(url)  # a second run is a no-op
