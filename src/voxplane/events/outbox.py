"""The transactional outbox: events staged with the change they announce, read by the relay.

A service calls :func:`add` inside its unit of work; the event commits or rolls back with
the change. :class:`OutboxRelay` (``relay.py``) then publishes what is pending. A relay
in the same process hears of each commit that staged events (:func:`on_commit`), so it
need not poll an idle outbox often; events staged by other processes wait for its poll.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from voxplane.events.vocabulary import Event
from voxplane.store.models import OutboxEvent

_STAGED = "voxplane.outbox.staged"
"""``Session.info`` key: this unit of work staged events."""
_listeners: list[Callable[[], None]] = []


def add(session: AsyncSession, staged: Event) -> None:
    """Stage ``staged`` in the caller's unit of work."""
    session.add(
        OutboxEvent(
            id=staged.id,
            tenant_id=staged.tenant_id,
            type=staged.type,
            priority=staged.priority,
            payload=staged.model_dump(mode="json"),
            occurred_at=staged.occurred_at,
        )
    )
    session.info[_STAGED] = True


def on_commit(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` (in the committing thread: the event loop's) after every commit in
    this process that staged events; returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_STAGED, False):
        for listener in tuple(_listeners):
            listener()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_STAGED, None)


async def pending(session: AsyncSession, limit: int) -> list[Event]:
    """The oldest unpublished events, locked for this relay (others skip them: on
    PostgreSQL several relays share the outbox without publishing one event twice)."""
    query = (
        select(OutboxEvent.payload)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [Event.model_validate(row) for row in (await session.scalars(query)).all()]


async def any_pending(connection: AsyncConnection) -> bool:
    """Whether an event waits, read outside any transaction: an idle relay looks with
    this, taking no lock, before it opens a unit to publish."""
    query = select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None)).limit(1)
    return (await connection.scalar(query)) is not None


async def mark_published(session: AsyncSession, ids: Sequence[str], at: datetime) -> None:
    if ids:
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=at)
        )


async def backlog(connection: AsyncConnection) -> int:
    """How many events wait to be published."""
    query = select(func.count()).where(OutboxEvent.published_at.is_(None))
    return int(await connection.scalar(query) or 0)
