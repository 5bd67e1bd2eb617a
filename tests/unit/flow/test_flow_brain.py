from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from voxplane.agents.flow import FlowConfig
from voxplane.providers.base import BrainEvent, HangUp, SttHint, TextChunk, Transfer
from voxplane.providers.flow import FlowBrain
from voxplane.providers.flow.engine import YES_NO_PROMPT


def collect(events: AsyncIterator[BrainEvent]) -> list[BrainEvent]:
    async def run() -> list[BrainEvent]:
        return [event async for event in events]

    return asyncio.run(run())


def test_greet_uses_the_start_node(acme: FlowConfig) -> None:
    brain = FlowBrain(acme)
    assert collect(brain.greet()) == [TextChunk("How can I help you today?")]
    assert brain.capabilities.streaming is False
    assert brain.stt_hint() is None


def test_first_message_replaces_the_greeting_but_flow_is_at_start(acme: FlowConfig) -> None:
    brain = FlowBrain(acme, first_message="Acme Dental, how can I help?")
    assert collect(brain.greet()) == [TextChunk("Acme Dental, how can I help?")]
    assert brain.engine.node == "welcome"
    assert collect(brain.respond("book a cleaning")) == [
        TextChunk("Happy to book a cleaning. Are you an existing patient with us?")
    ]
    assert brain.stt_hint() == SttHint("yes_no", YES_NO_PROMPT, ("yes", "no"))


def test_respond_yields_actions_after_text(acme: FlowConfig) -> None:
    brain = FlowBrain(acme)
    collect(brain.greet())
    assert collect(brain.respond("Can I talk to a real person?")) == [
        TextChunk("Let me put you through to a colleague."),
        Transfer("+15550100"),
    ]
    assert collect(brain.respond("Hello?")) == []


def test_goodbye_yields_hangup(acme: FlowConfig) -> None:
    brain = FlowBrain(acme)
    collect(brain.greet())
    events = collect(brain.respond("Goodbye"))
    assert events == [TextChunk("Thanks for calling Acme Dental. Goodbye!"), HangUp()]
