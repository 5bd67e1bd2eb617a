"""How a call ends: the agent hangs up, transfers, or the caller hangs up."""

from __future__ import annotations

from collections.abc import AsyncIterator

from _pipeline_harness import run_call, say

from voxplane.providers.base import BrainEvent, TextChunk, Transfer
from voxplane.testing.fakes import ScriptedBrain


class TransferringBrain(ScriptedBrain):
    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        self.received.append(user_text)
        yield TextChunk("Let me transfer you. ")
        yield Transfer("+15550100")


def test_agent_hangs_up_after_its_last_words() -> None:
    brain = ScriptedBrain(
        "Hello.", ["Sure. Which day works for you?", "Booked. Goodbye."], hang_up_after=2
    )
    c = run_call([say(0, 1500), say(1, 1000)], ["Book a cleaning.", "Tuesday at ten."], brain)
    assert c.result.ended_by == "agent_hangup"
    assert c.caller.hung_up
    assert c.texts() == [
        "Hello.",
        "Book a cleaning.",
        "Sure. Which day works for you?",
        "Tuesday at ten.",
        "Booked. Goodbye.",
    ]
    assert not c.result.turns[-1].interrupted


def test_transfer() -> None:
    c = run_call([say(0, 800)], ["A human, please."], TransferringBrain("Hello."))
    assert c.result.ended_by == "transfer"
    assert c.result.transfer_target == c.caller.transferred_to == "+15550100"
    assert c.texts()[-1] == "Let me transfer you."
    assert not c.caller.hung_up


def test_caller_hangs_up_after_its_last_turn() -> None:
    c = run_call([say(0, 800)], ["Hi."], ScriptedBrain("Hello.", ["Hi there, how can I help?"]))
    assert c.result.ended_by == "caller_hangup"
    assert not c.caller.hung_up
    assert not c.result.turns[-1].interrupted
