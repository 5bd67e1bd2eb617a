"""Pooled PostgreSQL connections that died under us (a restart, a failover, an idle timeout).

The pool does not ping on every checkout (a round trip per request): reads retry once on a
dead connection, and a connection idle for ``IDLE_PING_S`` is pinged before use.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from voxplane.errors import UnavailableError
from voxplane.store import db as db_module
from voxplane.store.db import Database

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def url() -> Iterator[str]:
    """A database of its own: its connections get killed."""
    name = f"voxplane_test_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def _kill_connections(url: str) -> int:
    """Terminate every server process serving ``url``'s database: what a restart does."""
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    await asyncio.sleep(0.1)
    return int(killed)


async def _one(connection: AsyncConnection) -> int:
    return int((await connection.execute(text("SELECT 1"))).scalar_one())


async def _unit_select(db: Database) -> int:
    async with db.unit() as session:
        return int((await session.execute(text("SELECT 1"))).scalar_one())


def test_a_read_on_a_dead_connection_is_retried(url: str) -> None:
    async def scenario() -> None:
        db = Database(url, pool_size=2)
        try:
            assert await db.read(_one) == 1
            assert await _kill_connections(url) >= 1
            assert await db.read(_one) == 1  # the dead connection failed, the retry did not
            assert await _unit_select(db) == 1  # the pool was renewed
        finally:
            await db.aclose()

    asyncio.run(scenario())


def test_a_write_soon_after_a_restart_fails_once_as_unavailable(url: str) -> None:
    async def scenario() -> None:
        db = Database(url, pool_size=2)
        try:
            assert await _unit_select(db) == 1
            await _kill_connections(url)
            with pytest.raises(UnavailableError):  # not retried: a unit may have written
                await _unit_select(db)
            assert await _unit_select(db) == 1
        finally:
            await db.aclose()

    asyncio.run(scenario())


def test_an_idle_connection_is_pinged_before_use(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "IDLE_PING_S", 0.0)

    async def scenario() -> None:
        db = Database(url, pool_size=2)
        try:
            assert await _unit_select(db) == 1
            await _kill_connections(url)
            assert await _unit_select(db) == 1  # the ping found it dead; a new one was made
        finally:
            await db.aclose()

    asyncio.run(scenario())
