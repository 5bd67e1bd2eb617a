"""The closed event vocabulary: what voxplane tells the outside world, and its wire form.

An event is immutable and carries its own id (``evt_…``, time-ordered): publishing is at
least once, so every consumer drops repeats by id. Its routing key is
``<tenant_id>.<type>`` (``ten_01J….call.ended``), so a consumer can bind to one tenant,
one kind of event, or both, with AMQP topic patterns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from voxplane.store.ids import new_id
from voxplane.store.types import utcnow

EventType = Literal[
    "call.started",
    "call.answered",
    "turn.completed",
    "transcript.final",
    "tool.called",
    "transfer.requested",
    "transfer.completed",
    "transfer.failed",
    "dtmf.received",
    "call.ended",
    "call.analyzed",
    "agent.updated",
    "number.updated",
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))

MAX_PRIORITY = 9
PRIORITIES: dict[str, int] = {
    "call.started": 7,
    "call.answered": 7,
    "transfer.requested": 7,
    "transfer.completed": 6,
    "transfer.failed": 6,
    "call.ended": 5,
    "call.analyzed": 4,
    "agent.updated": 2,
    "number.updated": 2,
}
"""Broker priority (0-9): live-call events overtake configuration changes in a backlog."""


class Event(BaseModel):
    """One event. ``data`` holds ids, numbers and outcomes, never secrets; caller content
    (transcripts, numbers) only as the tenant's PII policy stored it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^evt_[0-9A-Z]{26}$")
    type: EventType
    tenant_id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")
    occurred_at: datetime
    data: dict[str, Any]

    @property
    def routing_key(self) -> str:
        return f"{self.tenant_id}.{self.type}"

    @property
    def priority(self) -> int:
        return PRIORITIES.get(self.type, 0)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, body: bytes | str) -> Event:
        """Parse a published event; :class:`pydantic.ValidationError` for anything else."""
        return cls.model_validate_json(body)


def new_event(type: EventType, tenant_id: str, **data: Any) -> Event:
    """A new event of ``type`` for ``tenant_id``, stamped now."""
    return Event(id=new_id("evt"), type=type, tenant_id=tenant_id, occurred_at=utcnow(), data=data)


def matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on ``.``; ``*`` is one word, ``#`` zero or more."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in {"*", words[0]}) and _match(rest, words[1:])
