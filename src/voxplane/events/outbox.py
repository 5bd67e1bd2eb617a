"""The transactional outbox: events staged with the change they announce, read by the relay.

A service calls :func:`add` inside its unit of work; the event commits or rolls back with
the change. :class:`OutboxRelay` (``relay.py``) then publishes what is pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from voxplane.events.vocabulary import Event
from voxplane.store.models import OutboxEvent


def add(session: AsyncSession, event: Event) -> None:
    """Stage ``event`` in the caller's unit of work."""
    session.add(
        OutboxEvent(
            id=event.id,
            tenant_id=event.tenant_id,
            type=event.type,
            priority=event.priority,
            payload=event.model_dump(mode="json"),
            occurred_at=event.occurred_at,
        )
    )


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
