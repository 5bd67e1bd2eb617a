"""The flow brain: the :class:`Brain` interface over a :class:`FlowEngine`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from voxplane.agents.flow import FlowConfig
from voxplane.providers.base import (
    Brain,
    BrainCapabilities,
    BrainEvent,
    SttHint,
    TextChunk,
)
from voxplane.providers.flow.engine import FlowEngine, FlowReply, FlowState


class FlowBrain(Brain):
    """A scripted conversation flow as a brain: whole replies, no LLM.

    ``first_message`` (the agent's ``call.first_message``) replaces what the start node
    says when the call connects; the flow still sits at the start node, so its gather and
    transitions are active for the caller's first words.
    """

    capabilities = BrainCapabilities(streaming=False)

    def __init__(self, config: FlowConfig, first_message: str | None = None) -> None:
        self._engine = FlowEngine(config)
        self._first_message = first_message

    @property
    def engine(self) -> FlowEngine:
        """The engine behind this brain (slots, current node)."""
        return self._engine

    async def greet(self) -> AsyncIterator[BrainEvent]:
        for event in _events(self._engine.start(self._first_message)):
            yield event

    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        for event in _events(self._engine.handle(user_text)):
            yield event

    def stt_hint(self) -> SttHint | None:
        return self._engine.expected()

    def checkpoint(self) -> FlowState:
        return self._engine.snapshot()

    def rollback(self, checkpoint: object) -> None:
        assert isinstance(checkpoint, FlowState)
        self._engine.restore(checkpoint)


def _events(reply: FlowReply) -> list[BrainEvent]:
    events: list[BrainEvent] = [TextChunk(reply.text)] if reply.text else []
    if reply.action is not None:
        events.append(reply.action)
    return events
