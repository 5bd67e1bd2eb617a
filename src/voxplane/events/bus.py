"""The event bus: named queues bound to topic patterns, at-least-once delivery.

Two backends implement :class:`EventBus` and pass one contract suite
(``tests/contract/test_bus_contract.py``): :class:`MemoryBus`, the embedded default (one
process), and :class:`~voxplane.events.amqp.AmqpBus` on RabbitMQ. The semantics are
RabbitMQ's: a queue receives every event published after it was declared whose routing
key matches one of its patterns; higher priority first; a delivery is acked (done) or
rejected (moved to the queue's dead-letter queue, ``<name>.dead``); a delivery neither
acked nor rejected when its subscription closes is delivered again, flagged
``redelivered``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from voxplane.errors import UnavailableError
from voxplane.events.vocabulary import Event, matches

MEMORY_QUEUE_LIMIT = 100_000
"""Events one in-process queue holds before publishing to it fails (backpressure on the
relay, which keeps them in the outbox until there is room)."""


class Delivery(ABC):
    """One event handed to a consumer; settle it once with :meth:`ack` or :meth:`reject`."""

    event: Event
    redelivered: bool

    @abstractmethod
    async def ack(self) -> None: ...

    @abstractmethod
    async def reject(self) -> None:
        """Give up on the event: it moves to the dead-letter queue."""


class Subscription(ABC):
    @abstractmethod
    async def get(self, timeout_s: float) -> Delivery | None:
        """The next delivery, or None when none came within ``timeout_s``."""

    @abstractmethod
    async def aclose(self) -> None:
        """Stop consuming; unsettled deliveries go back to the queue."""


class EventBus(ABC):
    durable: bool
    """Whether the bus keeps what it took across a crash of this process (a broker does;
    the in-process bus does not, so the relay fans webhooks out in its own transaction)."""

    @abstractmethod
    async def publish(self, event: Event) -> None:
        """Hand ``event`` to the bus; when this returns, the bus holds it (broker-confirmed
        on RabbitMQ). :class:`~voxplane.errors.UnavailableError` when it cannot."""

    @abstractmethod
    async def declare(self, queue: str, patterns: Sequence[str]) -> None:
        """Create ``queue`` (and ``<queue>.dead``) bound to ``patterns``; idempotent."""

    @abstractmethod
    async def subscribe(self, queue: str, *, prefetch: int = 32) -> Subscription:
        """Consume a declared queue (or its ``.dead`` queue), at most ``prefetch``
        deliveries unsettled at a time."""

    @abstractmethod
    async def depth(self, queue: str) -> int:
        """Events waiting in ``queue`` (not counting unsettled deliveries)."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise :class:`~voxplane.errors.UnavailableError` unless the bus answers."""

    @abstractmethod
    async def aclose(self) -> None: ...


# --- in process ----------------------------------------------------------------------


@dataclass
class _Queue:
    patterns: tuple[str, ...]
    heap: list[tuple[int, int, Event, bool]] = field(default_factory=list)
    ready: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def put(self, event: Event, redelivered: bool, order: int) -> None:
        heapq.heappush(self.heap, (-event.priority, order, event, redelivered))
        async with self.ready:
            self.ready.notify()


class _MemoryDelivery(Delivery):
    def __init__(self, bus: MemoryBus, queue: str, event: Event, redelivered: bool) -> None:
        self.bus, self.queue, self.event, self.redelivered = bus, queue, event, redelivered
        self.settled = False

    async def ack(self) -> None:
        self.settled = True

    async def reject(self) -> None:
        if not self.settled:
            self.settled = True
            await self.bus._put(f"{self.queue}.dead", self.event, redelivered=False)


class _MemorySubscription(Subscription):
    def __init__(self, bus: MemoryBus, name: str, prefetch: int) -> None:
        self.bus, self.name, self.prefetch = bus, name, prefetch
        self.unsettled: list[_MemoryDelivery] = []

    async def get(self, timeout_s: float) -> Delivery | None:
        queue = self.bus._queues[self.name]
        self.unsettled = [d for d in self.unsettled if not d.settled]
        if len(self.unsettled) >= self.prefetch:
            return None
        try:
            async with asyncio.timeout(timeout_s), queue.ready:
                await queue.ready.wait_for(lambda: bool(queue.heap))
        except TimeoutError:
            return None
        _, _, event, redelivered = heapq.heappop(queue.heap)
        delivery = _MemoryDelivery(self.bus, self.name, event, redelivered)
        self.unsettled.append(delivery)
        return delivery

    async def aclose(self) -> None:
        for delivery in self.unsettled:
            if not delivery.settled:
                delivery.settled = True
                await self.bus._put(self.name, delivery.event, redelivered=True)
        self.unsettled = []


class MemoryBus(EventBus):
    """Queues in this process: what ``voxplane serve`` uses with no broker configured.
    Not durable: what it holds goes with the process. The outbox is what keeps events
    safe in embedded mode (see :class:`~voxplane.events.relay.OutboxRelay`)."""

    durable = False

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._order = itertools.count()

    async def publish(self, event: Event) -> None:
        for name, queue in self._queues.items():
            if any(matches(p, event.routing_key) for p in queue.patterns):
                await self._put(name, event, redelivered=False)

    async def _put(self, name: str, event: Event, *, redelivered: bool) -> None:
        queue = self._queues[name]
        if len(queue.heap) >= MEMORY_QUEUE_LIMIT:
            raise UnavailableError(f"the in-process event queue {name!r} is full")
        await queue.put(event, redelivered, next(self._order))

    async def declare(self, queue: str, patterns: Sequence[str]) -> None:
        if queue not in self._queues:
            self._queues[queue] = _Queue(tuple(patterns))
            self._queues[f"{queue}.dead"] = _Queue(())

    async def subscribe(self, queue: str, *, prefetch: int = 32) -> Subscription:
        if queue not in self._queues:
            raise KeyError(f"no queue {queue!r}: declare it first")
        return _MemorySubscription(self, queue, prefetch)

    async def depth(self, queue: str) -> int:
        return len(self._queues[queue].heap) if queue in self._queues else 0

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._queues.clear()
