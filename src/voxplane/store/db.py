"""The database handle: one async engine per process and the unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from voxplane.errors import ConflictError, UnavailableError


class Database:
    """An async engine and the sessions made from it.

    ``unit()`` is the unit of work: everything staged inside commits together at the end,
    or nothing does. Repositories get the session; only services open units.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"pool_pre_ping": True}
        if not self.is_sqlite:
            options |= {"pool_size": pool_size, "max_overflow": pool_size}
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on any error.

        A unique or foreign-key violation (two writers racing for the same name or number)
        becomes :class:`ConflictError`: the services check first, so it only means a race.
        """
        try:
            async with _reachable(), self._sessions() as session, session.begin():
                yield session
        except IntegrityError as error:
            raise ConflictError("a concurrent change conflicted with this one; retry") from error

    @asynccontextmanager
    async def connection(self, *, begin: bool = False) -> AsyncIterator[AsyncConnection]:
        """A bare connection, in a transaction when ``begin``: for migrations."""
        opening = self.engine.begin() if begin else self.engine.connect()
        async with _reachable(), opening as connection:
            yield connection

    async def ping(self) -> None:
        """Raise :class:`UnavailableError` unless the database answers."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError, OSError) as error:
            raise UnavailableError("the database is unreachable") from error

    async def aclose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """Translate a refused or lost connection into :class:`UnavailableError`."""
    try:
        yield
    except (OperationalError, DBAPIError, OSError) as error:
        if _is_connection_error(error):
            raise UnavailableError("the database is unreachable") from error
        raise


def _is_connection_error(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)
