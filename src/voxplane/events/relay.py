"""The relay: publishes what the outbox holds, oldest first, and marks it published.

At least once: an event is marked only after the bus has it, so a relay that dies in
between publishes it again when it (or another) restarts; consumers drop the repeat by id.
While the bus is away the events wait in the outbox, and the relay retries with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import UnavailableError
from voxplane.events import outbox
from voxplane.events.bus import EventBus
from voxplane.events.stop import Backoff, Stop
from voxplane.events.vocabulary import Event
from voxplane.observability import metrics
from voxplane.store.db import Database
from voxplane.store.models import OutboxEvent
from voxplane.store.types import utcnow

log = logging.getLogger("voxplane.events")


@dataclass(frozen=True)
class RelayOptions:
    batch: int = 200
    """Events published per transaction."""
    idle_poll_s: float = 0.1
    """How soon a relay looks at the outbox again after a round that left nothing behind."""
    idle_poll_max_s: float = 1.0
    """While the outbox stays empty the relay looks less and less often (doubling from
    ``idle_poll_s``), up to this. A commit in this process that stages events wakes it at
    once; events staged by other processes wait at most this long."""
    max_backoff_s: float = 5.0
    """The longest wait between tries while the bus or database is away."""
    keep_published: timedelta = timedelta(days=1)
    """Published events stay this long (for inspection), then go."""


Inline = Callable[[AsyncSession, Event], Awaitable[int]]


class OutboxRelay:
    """Publishes the outbox to ``bus``. ``inline`` runs for each event in the transaction
    that marks it published, and ``on_commit`` after that transaction when ``inline``
    reported new work: with a bus that is not durable, the webhook fan-out runs there, so
    a crash between publishing and fanning out loses nothing."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        options: RelayOptions | None = None,
        *,
        inline: Inline | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.db, self.bus = db, bus
        self.options = options or RelayOptions()
        self.inline, self.on_commit = inline, on_commit
        self.published = 0

    async def run_once(self) -> int:
        """Publish one batch; how many events went out."""
        if not await self.db.read(outbox.any_pending):
            return 0  # idle: no transaction, no write lock (SQLite has one)
        sent: list[str] = []
        failure: UnavailableError | None = None
        new_work = 0
        async with self.db.unit() as session:
            for event in await outbox.pending(session, self.options.batch):
                try:
                    await self.bus.publish(event)
                except UnavailableError as error:
                    failure = error
                    break
                sent.append(event.id)
                if self.inline is not None:
                    new_work += await self.inline(session, event)
            # What the bus took is marked, even when a later publish failed.
            await outbox.mark_published(session, sent, utcnow())
        if new_work and self.on_commit is not None:
            self.on_commit()
        self.published += len(sent)
        metrics.EVENTS_PUBLISHED.inc(len(sent))
        if failure is not None:
            raise failure
        return len(sent)

    async def prune(self) -> None:
        cutoff = utcnow() - self.options.keep_published
        async with self.db.unit() as session:
            await session.execute(delete(OutboxEvent).where(OutboxEvent.published_at < cutoff))

    async def run(self, stop: Stop | None = None) -> None:
        """Relay until ``stop`` is requested (or cancelled)."""
        stop = stop or Stop()
        options = self.options
        backoff = Backoff(most_s=options.max_backoff_s)
        idle = Backoff(options.idle_poll_s, max(options.idle_poll_s, options.idle_poll_max_s))
        staged = asyncio.Event()
        forget = outbox.on_commit(staged.set)
        rounds = 0
        try:
            while not stop.requested:
                staged.clear()
                try:
                    sent = await self.run_once()
                    backoff.reset()
                    rounds += 1
                    if rounds % 1000 == 0:
                        await self.prune()
                except UnavailableError as error:
                    wait_s = backoff.next_s()
                    log.warning("relay waits", extra={"error": str(error), "retry_s": wait_s})
                    await stop.pause(wait_s)
                    continue
                if sent >= options.batch:
                    continue
                if sent:  # busy: the next events are taken in one round a poll from now
                    idle.reset()
                    await stop.pause(options.idle_poll_s)
                else:
                    await stop.pause(idle.next_s(), staged)
        finally:
            forget()
