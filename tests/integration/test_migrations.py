"""Migrations up and down on a fresh SQLite file and a fresh PostgreSQL database.

The migrated schema must equal the models (a model change without a revision fails here),
and the ``voxplane db`` commands drive the same migrations.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Date, Integer, MetaData, String, insert, inspect, text
from sqlalchemy.engine import Connection

from conftest import _pg
from voxplane.cli.main import main
from voxplane.store import migrate
from voxplane.store.db import Database
from voxplane.store.models import Base

APP_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: not the session's, which the API tests share."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"voxplane_migrations_{secrets.token_hex(4)}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _tables(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        names: list[str] = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


async def _schema_diff(database: Database, metadata: MetaData) -> list[Any]:
    """What autogenerate would write to bring the database to ``metadata``."""

    def compare(sync: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(sync), metadata))

    async with database.engine.connect() as connection:
        return await connection.run_sync(compare)


def _kinds(diff: list[Any]) -> set[str]:
    """The operation names in a diff (column changes come as lists of tuples)."""
    kinds: set[str] = set()
    for entry in diff:
        for operation in entry if isinstance(entry, list) else [entry]:
            kinds.add(operation[0])
    return kinds


def test_upgrade_downgrade_upgrade_round_trip(fresh_url: str) -> None:
    async def scenario() -> None:
        database = Database(fresh_url)
        try:
            assert await migrate.current(database) is None
            assert not await _tables(database) & APP_TABLES

            await migrate.upgrade(database)
            assert await migrate.current(database) == migrate.head()
            assert await _tables(database) == APP_TABLES | {"alembic_version"}

            await migrate.downgrade(database, "base")
            assert await migrate.current(database) is None
            assert await _tables(database) <= {"alembic_version"}

            await migrate.upgrade(database)
            await migrate.upgrade(database)  # at head already: nothing to do, no error
            assert await migrate.current(database) == migrate.head()
            assert await _tables(database) == APP_TABLES | {"alembic_version"}
        finally:
            await database.aclose()

    asyncio.run(scenario())


def test_migrated_schema_matches_the_models(fresh_url: str) -> None:
    async def scenario() -> None:
        database = Database(fresh_url)
        try:
            await migrate.upgrade(database)
            assert await _schema_diff(database, Base.metadata) == []
        finally:
            await database.aclose()

    asyncio.run(scenario())


def test_schema_comparison_sees_model_drift(fresh_url: str) -> None:
    """The check above is not blind: a new column, a changed type or length, a dropped index
    (including on a ``UtcDateTime`` column) all show up as differences."""
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["tenants"].append_column(Column("plan", String(16), nullable=True))
    drifted.tables["tenants"].c.name.type = String(200)
    drifted.tables["calls"].c.started_at.type = Date()
    drifted.tables["calls"].c.tts_chars.type = String(10)
    drifted.tables["agents"].indexes.clear()
    assert isinstance(drifted.tables["usage_days"].c.calls.type, Integer)

    async def scenario() -> None:
        database = Database(fresh_url)
        try:
            await migrate.upgrade(database)
            diff = await _schema_diff(database, drifted)
        finally:
            await database.aclose()
        assert _kinds(diff) == {"add_column", "modify_type", "remove_index"}
        changed = {(op[2], op[3]) for entry in diff if isinstance(entry, list) for op in entry}
        assert changed == {("tenants", "name"), ("calls", "started_at"), ("calls", "tts_chars")}

    asyncio.run(scenario())


def test_db_commands_upgrade_report_and_downgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'cli.db'}"
    store = ["--database-url", url, "--data-dir", str(tmp_path)]
    head = migrate.head()

    assert main(["db", "current", *store]) == 0
    assert capsys.readouterr().out == f"schema at base (latest {head})\n"

    assert main(["db", "upgrade", *store]) == 0
    assert capsys.readouterr().out == f"schema at {head} (latest {head})\n"
    assert main(["db", "current", *store]) == 0
    assert capsys.readouterr().out == f"schema at {head} (latest {head})\n"

    assert main(["db", "downgrade", "--revision", "base", *store]) == 0
    assert capsys.readouterr().out == f"schema at base (latest {head})\n"

    assert main(["db", "upgrade", "--revision", head, *store]) == 0
    assert capsys.readouterr().out == f"schema at {head} (latest {head})\n"

    async def tables() -> set[str]:
        database = Database(url)
        try:
            return await _tables(database)
        finally:
            await database.aclose()

    assert asyncio.run(tables()) == APP_TABLES | {"alembic_version"}


def test_db_downgrade_requires_a_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    with pytest.raises(SystemExit) as exit_info:
        main(["db", "downgrade", "--database-url", url, "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--revision" in capsys.readouterr().err
    assert not (tmp_path / "cli.db").exists()


def test_db_command_on_an_unreachable_database_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    assert main(["db", "upgrade", "--database-url", url, "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "voxplane: error: the database is unreachable\n"


def test_0002_binds_existing_api_keys_to_their_member(fresh_url: str) -> None:
    """Keys made before 0002 act for the member who made them, through keys made with keys,
    and a tenant's platform-made owner key for its first owner; so they cannot outlive
    that member's rights once upgraded."""
    tables = Base.metadata.tables
    limits = {"rate_per_minute": 1, "rate_burst": 1, "max_concurrent_calls": 1}
    rows: list[tuple[str, list[dict[str, Any]]]] = [
        ("tenants", [{"id": "ten_1", "name": "t", **limits}]),
        ("users", [{"id": f"usr_{n}", "email": f"{n}@t.test", "password_hash": "x"} for n in "12"]),
        (
            "memberships",
            [{"id": f"mem_{n}", "tenant_id": "ten_1", "user_id": f"usr_{n}", "role": "owner"}
             for n in "12"],
        ),
        (
            "api_keys",
            [{"id": key, "tenant_id": "ten_1", "name": key, "prefix": key, "digest": key,
              "role": "owner", "scopes": [], "created_by": maker}
             for key, maker in (("key_boot", "platform"), ("key_a", "usr_2"),
                                ("key_b", "key_a"), ("key_c", "key_b"))],
        ),
    ]  # fmt: skip

    async def scenario() -> dict[str, str | None]:
        database = Database(fresh_url)
        try:
            await migrate.upgrade(database, "0001")
            async with database.connection(begin=True) as connection:
                for table, values in rows:
                    await connection.execute(insert(tables[table]).values(values))
            await migrate.upgrade(database)
            async with database.connection() as connection:
                found = await connection.execute(text("SELECT id, user_id FROM api_keys"))
                return {key: user for key, user in found.all()}  # noqa: C416
        finally:
            await database.aclose()

    bound = asyncio.run(scenario())
    assert bound == {"key_boot": "usr_1", "key_a": "usr_2", "key_b": "usr_2", "key_c": "usr_2"}
