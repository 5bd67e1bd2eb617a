"""Events: the closed vocabulary, the transactional outbox, the bus and its relay, and
webhook delivery. See docs/events.md.

Services stage events with :func:`voxplane.events.outbox.add` inside their unit of work;
:class:`OutboxRelay` publishes them to an :class:`EventBus` (in process, or RabbitMQ).
"""

from __future__ import annotations

from voxplane.events.amqp import AmqpBus
from voxplane.events.bus import Delivery, EventBus, MemoryBus, Subscription
from voxplane.events.relay import OutboxRelay, RelayOptions
from voxplane.events.vocabulary import EVENT_TYPES, Event, EventType, matches, new_event

__all__ = [
    "EVENT_TYPES",
    "AmqpBus",
    "Delivery",
    "Event",
    "EventBus",
    "EventType",
    "MemoryBus",
    "OutboxRelay",
    "RelayOptions",
    "Subscription",
    "matches",
    "new_event",
    "open_bus",
]


def open_bus(amqp_url: str | None) -> EventBus:
    """RabbitMQ when ``amqp_url`` is set, else the in-process bus. Nothing is contacted
    yet: a broker that is down shows in :meth:`EventBus.ping` and in each operation."""
    if amqp_url is None:
        return MemoryBus()
    return AmqpBus(amqp_url)
