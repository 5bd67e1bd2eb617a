"""Alembic migrations, run from code (``voxplane db upgrade``, and at start when embedded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from voxplane.store.db import Database

SCRIPTS = Path(__file__).parent / "migrations"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


async def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (creating the SQLite file's folder if needed)."""
    _ensure_sqlite_dir(database.url)
    async with database.connection(begin=True) as connection:
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), revision))


async def downgrade(database: Database, revision: str = "base") -> None:
    async with database.connection(begin=True) as connection:
        await connection.run_sync(lambda sync: command.downgrade(_config(sync), revision))


async def current(database: Database) -> str | None:
    """The revision the database is at (None when it has never been migrated)."""
    _ensure_sqlite_dir(database.url)
    async with database.connection() as connection:
        return await connection.run_sync(_current_revision)


def head() -> str:
    script = ScriptDirectory.from_config(_script_config())
    revision = script.get_current_head()
    assert revision is not None
    return revision


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _script_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def _ensure_sqlite_dir(url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


__all__: list[Any] = ["current", "downgrade", "head", "upgrade"]
