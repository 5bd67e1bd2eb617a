"""Closing a platform stops its events worker between units of work, so nothing it held
outlives the platform. Cancelled at close, a unit could be cut inside its session's close
(the pool's rollback itself cancelled): its connection was left to the garbage collector,
and on SQLite it held the write lock into the next platform on the same file. That race
is rare; here the worker is caught inside a unit on purpose, by holding the lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from conftest import make_settings
from voxplane.events import MemoryBus
from voxplane.events.delivery import DeliveryOptions
from voxplane.events.worker import EventWorker
from voxplane.security.secretbox import Keyring
from voxplane.services.platform import open_platform
from voxplane.store import migrate
from voxplane.store.db import Database


def write_lock_free(path: Path) -> bool:
    """Whether another connection can take the write lock at once."""
    connection = sqlite3.connect(path, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


def test_closing_a_platform_lets_its_worker_finish_the_unit_in_hand(tmp_path: Path) -> None:
    path = tmp_path / "voxplane.db"
    settings = make_settings(f"sqlite+aiosqlite:///{path}", tmp_path)
    assert settings.events_worker

    async def scenario() -> None:
        platform = open_platform(settings)
        await platform.__aenter__()
        await asyncio.sleep(0.3)  # migrated; the idle sender claims due deliveries each 100 ms
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # as another process would, for a while
        await asyncio.sleep(0.4)  # the worker's next unit now waits in BEGIN IMMEDIATE
        closing = asyncio.create_task(platform.__aexit__(None, None, None))
        await asyncio.sleep(0.3)
        # Asked to stop, the worker finishes the unit in hand before the platform closes.
        assert not closing.done(), "the platform closed under a unit of work"
        other.execute("ROLLBACK")
        other.close()
        await asyncio.wait_for(closing, 10)

    asyncio.run(scenario())
    assert write_lock_free(path), "a connection of the closed platform holds the write lock"


def test_a_stopped_worker_returns_once_the_unit_in_hand_is_done(tmp_path: Path) -> None:
    path = tmp_path / "voxplane.db"

    async def scenario() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(db)
        options = DeliveryOptions(allow_private=True)
        worker = EventWorker(db, MemoryBus(), Keyring.generate(), options)
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(0.3)
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        await asyncio.sleep(0.4)  # the sender's next claim waits in BEGIN IMMEDIATE
        worker.stop()
        await asyncio.sleep(0.3)
        assert not running.done(), "the worker left its unit of work unfinished"
        other.execute("ROLLBACK")
        other.close()
        await asyncio.wait_for(running, 10)  # every part returned: nothing was cancelled
        pool = db.engine.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        await db.aclose()

    asyncio.run(scenario())
    assert write_lock_free(path)
