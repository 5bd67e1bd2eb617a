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
from voxplane.events.stop import Backoff, Stop
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
        self._stop = Stop()

    def stop(self) -> None:
        """Ask every part to stop once the unit of work in hand is done: :meth:`run` then
        returns (the sender's attempts in flight end first)."""
        self._stop.request()
        self.sender.wake()

    async def run(self) -> None:
        """Run every part until :meth:`stop`; a part that fails is logged and restarted."""
        stop = self._stop
        parts: list[tuple[str, Callable[[Stop], Awaitable[None]]]] = [
            ("outbox relay", self._relay),
            ("webhook sender", self.sender.run),
            ("queue gauges", self._sample),
        ]
        if self.bus.durable:
            parts.append(("webhook fan-out", self.fanout.run))
        try:
            async with asyncio.TaskGroup() as group:
                for name, part in parts:
                    group.create_task(_supervised(name, part, stop))
        finally:
            await self.sender.aclose()

    async def _relay(self, stop: Stop) -> None:
        # A broker drops (and confirms) what no queue is bound to take: the relay starts
        # once the webhook queue exists, or the first events of a fresh broker are lost.
        backoff = Backoff()
        while self.bus.durable:
            try:
                await self.bus.declare(self.fanout.queue, ["#"])
                break
            except UnavailableError as error:
                log.warning("relay waits for the event bus", extra={"error": str(error)})
                if await stop.pause(backoff.next_s()):
                    return
        await self.relay.run(stop)

    async def _sample(self, stop: Stop) -> None:
        """Keep the queue-depth gauges current (what the backlog alerts watch)."""
        while not stop.requested:
            try:
                outbox_depth = await self.db.read(backlog)
                due = await self.db.read(
                    lambda c: c.scalar(
                        select(func.count()).where(WebhookDelivery.status == "pending")
                    )
                )
                metrics.BACKLOG.labels("outbox").set(outbox_depth)
                metrics.BACKLOG.labels("webhooks").set(due or 0)
                metrics.BACKLOG.labels("bus").set(await self.bus.depth(self.fanout.queue))
            except UnavailableError:
                pass  # the gauges keep their last values; readiness reports the outage
            await stop.pause(SAMPLE_S)


async def _supervised(name: str, run: Callable[[Stop], Awaitable[None]], stop: Stop) -> None:
    while not stop.requested:
        try:
            await run(stop)
        except Exception:
            log.exception("events worker part failed; restarting", extra={"part": name})
            await stop.pause(RESTART_S)
