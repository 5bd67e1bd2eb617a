"""The database handle: one async engine per process and the unit of work."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from voxplane.errors import ConflictError, UnavailableError

T = TypeVar("T")
_IN_UNIT: contextvars.ContextVar[tuple[Database, asyncio.Task[Any] | None] | None] = (
    contextvars.ContextVar("in_unit", default=None)
)
"""The database and task of the unit the running code is inside (tasks inherit it)."""
IDLE_PING_S = 10.0
"""A pooled connection idle for longer than this is pinged before it is handed out."""


class Database:
    """An async engine and the sessions made from it.

    ``unit()`` is the unit of work: everything staged inside commits together at the end,
    or nothing does. Repositories get the session; only services open units.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {}
        if not self.is_sqlite:
            options |= {"pool_size": pool_size, "max_overflow": pool_size}
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        _ping_when_idle(self.engine.sync_engine)
        # On SQLite every unit begins IMMEDIATE (see unit()); PostgreSQL ignores the option.
        units = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._sessions = async_sessionmaker(units, expire_on_commit=False)
        # Shares the pool; its connections run each statement on its own, no BEGIN/COMMIT.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._writer: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _writer_turn(self) -> asyncio.Lock:
        """The in-process queue for SQLite's one writer, bound to the running loop."""
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer[0] is not loop:
            self._writer = (loop, asyncio.Lock())
        return self._writer[1]

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on any error.

        A unique or foreign-key violation (two writers racing for the same name or number)
        becomes :class:`ConflictError`: the services check first, so it only means a race.

        On SQLite a unit takes the database's write lock when it begins (``BEGIN
        IMMEDIATE``), so units that read and then write serialize as row locks make them on
        PostgreSQL: a refresh token is spent once, concurrent agent updates queue. Every
        unit does, not only those that write: no unit can forget to, and the cost is within
        noise (2,000 read-only units, 20 at a time, on a 2-core machine: 440-557/s deferred,
        400-550/s immediate), since WAL readers outside units (``read()``) never wait and
        the hot reads go through ``read()``.

        Units of one process also queue for that lock in the event loop, first come first
        served, before they ask SQLite for it. SQLite's own wait (``busy_timeout``) polls
        with growing sleeps and gives up with "database is locked": on a loaded machine a
        burst of units (a request, the events worker's relay, sender and gauges) made one
        wait past it and fail. It now only arbitrates between processes (``voxplane admin``
        beside ``serve``). A unit opened inside another unit of the same database would
        wait for itself: that is refused at once.
        """
        if not self.is_sqlite:
            async with self._unit() as session:
                yield session
            return
        inside = (self, asyncio.current_task())
        if _IN_UNIT.get() == inside:
            raise RuntimeError("a unit of work was opened inside another on the same database")
        async with self._writer_turn():
            token = _IN_UNIT.set(inside)
            try:
                async with self._unit() as session:
                    yield session
            finally:
                _IN_UNIT.reset(token)

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[AsyncSession]:
        try:
            async with _reachable(), self._sessions() as session, session.begin():
                yield session
        except IntegrityError as error:
            raise ConflictError("a concurrent change conflicted with this one; retry") from error

    async def read(self, query: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run a read of one statement outside any transaction, saving the BEGIN and COMMIT
        round trips of a unit. Retried once when its connection turns out to be dead: a
        read is safe to repeat, and a database restart then costs readers nothing."""
        for attempt in (1, 2):
            try:
                async with _reachable(), self._autocommit.connect() as connection:
                    return await query(connection)
            except UnavailableError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

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


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use only after it sat idle in the pool for ``IDLE_PING_S``.

    ``pool_pre_ping`` would cost a round trip on every checkout, one more per request under
    load. A connection in steady use does not need it: if the database goes away, the
    first statement to fail invalidates the whole pool (SQLAlchemy does that for any
    disconnect error), that request gets a 503 (``UnavailableError``, retryable; reads
    retry it themselves, see :meth:`Database.read`) and the next ones reconnect.
    """

    @event.listens_for(engine, "checkin")
    def checkin(_dbapi: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.pop("returned_at", None)
        if returned_at is None or time.monotonic() - returned_at < IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as error:  # the pool reconnects and tries again
            raise DisconnectionError("a pooled connection went away while idle") from error


def _sqlite_begin(connection: Any) -> None:
    """Begin SQLite transactions ourselves: ``BEGIN IMMEDIATE`` for writing units.

    The sqlite3 module's own implicit BEGIN is off (``isolation_level = None`` at connect),
    as SQLAlchemy's pysqlite documentation recommends for controlling transactions.
    """
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    connection.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.isolation_level = None  # no implicit BEGIN: _sqlite_begin emits it
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
