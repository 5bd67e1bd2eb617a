"""The event bus on RabbitMQ (aio-pika): one durable topic exchange, durable priority
queues with dead-lettering, persistent messages and publisher confirms.

Topology, declared idempotently by whoever needs it::

    voxplane.events (topic) ──<tenant>.<type>──► <queue>  (x-max-priority, x-dead-letter-*)
    voxplane.dead   (direct) ──<queue>.dead────► <queue>.dead

One plain connection, replaced when it is lost: the next call after the broker dropped it
(a restart, ``rabbitmqctl close_connection``) connects again, so the bus is back as soon
as the broker is. Not aio-pika's robust connection: it sleeps its ``reconnect_interval``
(5 s) after every attempt, the first included, and it reopens every channel object ever
made on it, the ones that failed to open during the outage too (a publisher retrying
every 100 ms came back with dozens of channels).

Publishing while the broker is away raises :class:`UnavailableError`; the relay keeps the
event in the outbox and tries again. A subscription does not survive its connection:
:meth:`Subscription.get` raises :class:`UnavailableError` once its channel is gone and the
consumer subscribes again (the webhook fan-out is restarted by its supervisor); the
broker puts what was unsettled back (``redelivered``), and consumers drop repeats by
event id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aiormq.exceptions import AMQPError
from pydantic import ValidationError

from voxplane.errors import UnavailableError
from voxplane.events.bus import Delivery, EventBus, Subscription
from voxplane.events.vocabulary import MAX_PRIORITY, Event

EXCHANGE = "voxplane.events"
DEAD_EXCHANGE = "voxplane.dead"
TIMEOUT_S = 5.0
CHANNEL_CHECK_S = 0.5
"""How often a waiting subscription looks whether its channel is still open."""
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
        # What came before the channel closed is still handed out (to be settled or not:
        # the broker redelivers it anyway); then the loss is reported, not waited out.
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    if self.inbox.empty() and self.channel.is_closed:
                        raise UnavailableError("the broker dropped the subscription's channel")
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(CHANNEL_CHECK_S):
                            return await self.inbox.get()
        except TimeoutError:
            return None

    async def aclose(self) -> None:
        with contextlib.suppress(*_ERRORS):
            await self.channel.close()  # the broker requeues what was not settled


class AmqpBus(EventBus):
    """RabbitMQ behind :class:`EventBus`; connects on first use, and again on the first
    use after the connection was lost."""

    durable = True

    def __init__(self, url: str, *, name: str = "voxplane") -> None:
        self.url, self.name = url, name
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._queues: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()

    async def _publisher(self) -> AbstractExchange:
        async with self._lock:
            connection = await self._connect()
            old = self._channel
            if self._exchange is None or old is None or old.is_closed:
                # A channel the broker closed (or one of a connection that was lost) is
                # not reopened: a new one is, on the current connection.
                self._channel = self._exchange = None
                if old is not None:
                    with contextlib.suppress(*_ERRORS):
                        await old.close()
                self._channel = await self._open_channel(connection, publisher_confirms=True)
                self._exchange = await self._declare_exchanges(self._channel)
            assert self._exchange is not None
            return self._exchange

    async def _connect(self) -> AbstractConnection:
        """The connection, made anew when there is none or the broker closed it."""
        async with self._connect_lock:
            old = self._connection
            if old is not None and _alive(old):
                return old
            self._connection = None
            if old is not None:  # lost: its channels are gone with it
                with contextlib.suppress(*_ERRORS):
                    async with asyncio.timeout(TIMEOUT_S):
                        await old.close()
            self._connection = await aio_pika.connect(
                self.url, timeout=TIMEOUT_S, client_properties={"connection_name": self.name}
            )
            return self._connection

    @staticmethod
    async def _open_channel(
        connection: AbstractConnection, *, publisher_confirms: bool
    ) -> AbstractChannel:
        channel = connection.channel(publisher_confirms=publisher_confirms)
        try:
            async with asyncio.timeout(TIMEOUT_S):
                await channel.initialize()
        except BaseException:
            if channel.is_initialized:  # opened, then failed (or timed out) on confirms
                with contextlib.suppress(*_ERRORS):
                    await channel.close()
            raise
        return channel

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
            channel = await self._open_channel(await self._connect(), publisher_confirms=True)
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
            channel = await self._open_channel(await self._connect(), publisher_confirms=False)
            try:
                declared = await channel.declare_queue(queue, passive=True)
            finally:
                await channel.close()
        except _ERRORS as error:
            raise UnavailableError("the event broker is unreachable") from error
        return int(declared.declaration_result.message_count or 0)

    async def ping(self) -> None:
        try:
            channel = await self._open_channel(await self._connect(), publisher_confirms=False)
            await channel.close()
        except _ERRORS as error:
            raise UnavailableError("the event broker is unreachable") from error

    async def aclose(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(*_ERRORS):
                await self._connection.close()
        self._connection = self._channel = self._exchange = None


def _alive(connection: AbstractConnection) -> bool:
    """Whether ``connection`` can still carry channels: not closed by us, and its
    transport not closed by the broker or the network."""
    transport = connection.transport
    return not connection.is_closed and transport is not None and not transport.connection.is_closed
