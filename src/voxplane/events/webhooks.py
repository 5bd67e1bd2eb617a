"""Webhook fan-out: each event from the bus becomes one delivery per matching endpoint.

Idempotent: a delivery is unique per (endpoint, event id), so an event the bus hands over
twice (at-least-once) makes no second delivery. The bus delivery is acked only once the
rows are committed; while the database is away the event waits on the bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import UnavailableError
from voxplane.events.bus import EventBus
from voxplane.events.stop import Backoff, Stop
from voxplane.events.vocabulary import Event
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import WebhookDelivery, WebhookEndpoint
from voxplane.store.types import utcnow

log = logging.getLogger("voxplane.webhooks")
QUEUE = "voxplane.webhooks"
BATCH = 64
"""Events fanned out per transaction at most (and the consumer's prefetch)."""
ALL_EVENTS = "*"
RESUBSCRIBE_S = 1.0
"""The wait before subscribing again after the bus dropped the subscription."""


def wants(filters: list[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``filters`` gets an event of ``event_type``."""
    return ALL_EVENTS in filters or event_type in filters


async def fan_out(session: AsyncSession, event: Event) -> int:
    """Stage a delivery of ``event`` for each of its tenant's endpoints that want it;
    how many were new."""
    query = select(WebhookEndpoint.id, WebhookEndpoint.events).where(
        WebhookEndpoint.tenant_id == event.tenant_id, WebhookEndpoint.enabled.is_(True)
    )
    endpoints = [
        eid for eid, filters in (await session.execute(query)).all() if wants(filters, event.type)
    ]
    if not endpoints:
        return 0
    now = utcnow()
    payload = event.model_dump(mode="json")
    rows: list[dict[str, Any]] = [
        {
            "id": new_id("whd"),
            "tenant_id": event.tenant_id,
            "endpoint_id": endpoint_id,
            "event_id": event.id,
            "event_type": event.type,
            "payload": payload,
            "status": "pending",
            "attempt_count": 0,
            "next_attempt_at": now,
            "first_attempt_at": now,
            "attempts": [],
            "created_at": now,
            "updated_at": now,
        }
        for endpoint_id in endpoints
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
    )
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


class WebhookFanout:
    """Consumes the webhook queue until stopped; ``on_new`` is called after new
    deliveries commit (to wake the sender)."""

    def __init__(
        self, db: Database, bus: EventBus, on_new: Callable[[], None], *, queue: str = QUEUE
    ) -> None:
        self.db, self.bus, self.on_new, self.queue = db, bus, on_new, queue

    async def run(self, stop: Stop | None = None) -> None:
        """Consume until ``stop`` is requested (or cancelled)."""
        stop = stop or Stop()
        while not stop.requested:
            try:
                await self._consume(stop)
            except UnavailableError as error:  # the broker is away, or dropped our channel
                log.warning("webhook fan-out waits for the event bus", extra={"error": str(error)})
                await stop.pause(RESUBSCRIBE_S)

    async def _consume(self, stop: Stop) -> None:
        await self.bus.declare(self.queue, ["#"])
        subscription = await self.bus.subscribe(self.queue, prefetch=BATCH)
        try:
            while not stop.requested:
                first = await subscription.get(1.0)
                if first is None:
                    continue
                batch = [first]  # what else is already here goes in the same transaction
                while len(batch) < BATCH and (more := await subscription.get(0)) is not None:
                    batch.append(more)
                await self._store([delivery.event for delivery in batch])
                for delivery in batch:
                    await delivery.ack()
        finally:
            await subscription.aclose()

    async def _store(self, events: list[Event]) -> None:
        backoff = Backoff()
        while True:
            try:
                async with self.db.unit() as session:
                    new = sum([await fan_out(session, event) for event in events])
                break
            except UnavailableError:
                log.warning("webhook fan-out waits for the database")
                await asyncio.sleep(backoff.next_s())
        if new:
            self.on_new()
