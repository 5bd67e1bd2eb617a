"""The event bus on RabbitMQ (aio-pika): one durable topic exchange, durable priority
queues with dead-lettering, persistent messages and publisher confirms.

Topology, declared idempotently by whoever needs it::

    voxplane.events (topic) ──<tenant>.<type>──► <queue>  (x-max-priority, x-dead-letter-*)
    voxplane.dead   (direct) ──<queue>.dead────► <queue>.dead

The connection is robust: it reconnects, restores channels and consumers; deliveries that
were unsettled when it dropped come again (``redelivered``), and consumers drop repeats by
event id. Publishing while the broker is away raises :class:`UnavailableError`; the
relay keeps the event in the outbox and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.exceptions import AMQPError
from pydantic import ValidationError

from voxplane.errors import UnavailableError
from voxplane.events.bus import Delivery, EventBus, Subscription
from voxplane.events.vocabulary import MAX_PRIORITY, Event

EXCHANGE = "voxplane.events"
DEAD_EXCHANGE = "voxplane.dead"
TIMEOUT_S = 5.0
_ERRORS = (AMQPError, ConnectionError, OSError, TimeoutError, RuntimeError)


class _AmqpDelivery(Delivery):
    def __init__(self, message: AbstractIncomingMessage, event: Event) -> None:
        self.message, self.event = message, event
        self.redelivered = bool(message.redelivered)

    async def ack(self) -> None:
        # On a dropped channel the broker redelivers it: a repeat consumers drop by id.
        with contextlib.suppress(*_ERRORS):
            await self.message.ack()

    async def reject(self) -> None:
        with contextlib.suppress(*_ERRORS):
            await self.message.reject(requeue=False)


class _AmqpSubscription(Subscription):
    def __init__(self, channel: AbstractChannel, queue: AbstractQueue, prefetch: int) -> None:
        self.channel, self.queue = channel, queue
        self.inbox: asyncio.Queue[_AmqpDelivery] = asyncio.Queue(maxsize=prefetch)
        self.tag: str | None = None

    async def start(self) -> None:
        self.tag = await self.queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            event = Event.from_json(message.body)
        except ValidationError:  # not ours: straight to the dead-letter queue
            await message.reject(requeue=False)
            return
        await self.inbox.put(_AmqpDelivery(message, event))

    async def get(self, timeout_s: float) -> Delivery | None:
        try:
            async with asyncio.timeout(timeout_s):
                return await self.inbox.get()
        except TimeoutError:
            return None

    async def aclose(self) -> None:
        with contextlib.suppress(*_ERRORS):
            await self.channel.close()  # the broker requeues what was not settled


class AmqpBus(EventBus):
    """RabbitMQ behind :class:`EventBus`; connects on first use."""

    durable = True

    def __init__(self, url: str, *, name: str = "voxplane") -> None:
        self.url, self.name = url, name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._queues: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    async def _publisher(self) -> AbstractExchange:
        async with self._lock:
            old = self._channel
            if self._exchange is None or old is None or old.is_closed:
                # A channel the broker closed is not always restored with the connection
                # (aio-pika's restore can run while the connection is still down): open a
                # new one rather than publish into a dead one forever.
                self._exchange = None
                if old is not None:
                    with contextlib.suppress(*_ERRORS):
                        await old.close()
                connection = await self._connect()
                self._channel = await connection.channel(publisher_confirms=True)
                self._exchange = await self._declare_exchanges(self._channel)
            assert self._exchange is not None
            return self._exchange

    async def _connect(self) -> AbstractRobustConnection:
        if self._connection is None:
            self._connection = await aio_pika.connect_robust(
                self.url, timeout=TIMEOUT_S, client_properties={"connection_name": self.name}
            )
        return self._connection

    @staticmethod
    async def _declare_exchanges(channel: AbstractChannel) -> AbstractExchange:
        await channel.declare_exchange(DEAD_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        return await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)

    async def publish(self, event: Event) -> None:
        message = aio_pika.Message(
            event.to_json(),
            message_id=event.id,
            type=event.type,
            priority=event.priority,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            exchange = await self._publisher()
            await exchange.publish(message, event.routing_key, timeout=TIMEOUT_S)
        except _ERRORS as error:
            raise UnavailableError("the event broker is unreachable") from error

    async def declare(self, queue: str, patterns: Sequence[str]) -> None:
        arguments: dict[str, Any] = {
            "x-max-priority": MAX_PRIORITY,
            "x-dead-letter-exchange": DEAD_EXCHANGE,
            "x-dead-letter-routing-key": f"{queue}.dead",
        }
        try:
            await self._publisher()
            assert self._channel is not None
            channel = self._channel
            main = await channel.declare_queue(queue, durable=True, arguments=arguments)
            for pattern in patterns:
                await main.bind(EXCHANGE, pattern)
            dead = await channel.declare_queue(f"{queue}.dead", durable=True)
            await dead.bind(DEAD_EXCHANGE, f"{queue}.dead")
        except _ERRORS as error:
            raise UnavailableError("the event broker is unreachable") from error
        self._queues[queue] = arguments
        self._queues[f"{queue}.dead"] = {}

    async def subscribe(self, queue: str, *, prefetch: int = 32) -> Subscription:
        if queue not in self._queues:
            raise KeyError(f"no queue {queue!r}: declare it first")
        try:
            channel = await (await self._connect()).channel()
            await channel.set_qos(prefetch_count=prefetch)
            declared = await channel.declare_queue(
                queue, durable=True, arguments=self._queues[queue] or None
            )
            subscription = _AmqpSubscription(channel, declared, prefetch)
            await subscription.start()
        except _ERRORS as error:
            raise UnavailableError("the event broker is unreachable") from error
        return subscription

    async def depth(self, queue: str) -> int:
        try:
            # A channel of its own: a passive declare of a missing queue closes its channel.
            channel = await (await self._connect()).channel(publisher_confirms=False)
            try:
                declared = await channel.declare_queue(queue, passive=True)
            finally:
                await channel.close()
        except _ERRORS as error:
            raise UnavailableError("the event broker is unreachable") from error
        return int(declared.declaration_result.message_count or 0)

    async def ping(self) -> None:
        try:
            connection = await self._connect()
            async with asyncio.timeout(TIMEOUT_S):
                channel = await connection.channel(publisher_confirms=False)
                await channel.close()
        except _ERRORS as error:
            raise UnavailableError("the event broker is unreachable") from error

    async def aclose(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(*_ERRORS):
                await self._connection.close()
        self._connection = self._channel = self._exchange = None
