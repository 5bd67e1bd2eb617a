"""The events worker: the outbox relay, the webhook fan-out and the webhook sender, run
together by the process that owns them (``voxplane serve``; any number of processes may
run one: relays and senders share the work through row locks, consumers through the
broker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select

from voxplane.errors import UnavailableError
from voxplane.events.bus import EventBus
from voxplane.events.delivery import DeliveryOptions, WebhookSender
from voxplane.events.outbox import backlog
from voxplane.events.relay import OutboxRelay, RelayOptions
from voxplane.events.webhooks import WebhookFanout, fan_out
from voxplane.observability import metrics
from voxplane.security.secretbox import Keyring
from voxplane.store.db import Database
from voxplane.store.models import WebhookDelivery

log = logging.getLogger("voxplane.events")
RESTART_S = 1.0
SAMPLE_S = 5.0


class EventWorker:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        keyring: Keyring,
        delivery: DeliveryOptions,
        relay: RelayOptions | None = None,
    ) -> None:
        self.sender = WebhookSender(db, keyring, delivery)
        self.fanout = WebhookFanout(db, bus, self.sender.wake)
        self.db, self.bus = db, bus
        # On a bus that forgets at a crash, webhooks fan out in the relay's transaction.
        inline = None if bus.durable else fan_out
        self.relay = OutboxRelay(db, bus, relay, inline=inline, on_commit=self.sender.wake)

    async def run(self) -> None:
        """Run every part until cancelled; a part that fails is logged and restarted."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(_supervised("outbox relay", self._relay))
                if self.bus.durable:
                    group.create_task(_supervised("webhook fan-out", self.fanout.run))
                group.create_task(_supervised("webhook sender", self.sender.run))
                group.create_task(_supervised("queue gauges", self._sample))
        finally:
            await self.sender.aclose()

    async def _relay(self) -> None:
        # A broker drops (and confirms) what no queue is bound to take: the relay starts
        # once the webhook queue exists, or the first events of a fresh broker are lost.
        backoff = 0.1
        while self.bus.durable:
            try:
                await self.bus.declare(self.fanout.queue, ["#"])
                break
            except UnavailableError as error:
                log.warning("relay waits for the event bus", extra={"error": str(error)})
                await asyncio.sleep(backoff)
                backoff = min(5.0, 2 * backoff)
        await self.relay.run()

    async def _sample(self) -> None:
        """Keep the queue-depth gauges current (what the backlog alerts watch)."""
        while True:
            try:
                async with self.db.unit() as session:
                    outbox_depth = await backlog(session)
                    due = await session.scalar(
                        select(func.count()).where(WebhookDelivery.status == "pending")
                    )
                metrics.BACKLOG.labels("outbox").set(outbox_depth)
                metrics.BACKLOG.labels("webhooks").set(due or 0)
                metrics.BACKLOG.labels("bus").set(await self.bus.depth(self.fanout.queue))
            except UnavailableError:
                pass  # the gauges keep their last values; readiness reports the outage
            await asyncio.sleep(SAMPLE_S)


async def _supervised(name: str, run: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            await run()
        except Exception:
            log.exception("events worker part failed; restarting", extra={"part": name})
        await asyncio.sleep(RESTART_S)
