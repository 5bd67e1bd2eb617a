"""A streamed multi-sentence answer is spoken in order, synthesis ahead of playout."""

from __future__ import annotations

import asyncio

from _pipeline_harness import TURN, TimedTTS, run_call, say

from voxplane.agents.schema import CallConfig
from voxplane.pipeline.records import TurnRecord
from voxplane.pipeline.session import CallParts, CallSession
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import ScriptedBrain, ScriptedSTT, ScriptedTTS, ToneVad
from voxplane.transports.simulated import SimulatedCaller

REPLY = "First sentence is here. Second sentence follows now. Third one ends it."


def test_sentences_are_spoken_in_order_and_heard_in_full() -> None:
    tts = TimedTTS()
    brain = ScriptedBrain("Hello.", [REPLY], hang_up_after=1)
    c = run_call([say(0, 800)], ["Hi."], brain, tts=tts)
    assert tts.spoken == [
        "Hello.",
        "First sentence is here.",
        "Second sentence follows now.",
        "Third one ends it.",
    ]
    assert c.texts() == ["Hello.", "Hi.", REPLY]
    answer = c.agent(1)
    assert not answer.interrupted
    assert answer.end_ms - answer.start_ms == 12 * 300  # 12 words of 300 ms, no gaps
    # Sentence 2 was synthesized while sentence 1 (4 words, 1.2 s) was still playing.
    first_played_until = answer.start_ms / 1000 + 1.2
    assert tts.started_at[2] < first_played_until - 1.0
    assert c.result.ended_by == "agent_hangup"


def test_each_transcript_entry_is_reported_as_it_is_recorded() -> None:
    seen: list[tuple[float, TurnRecord]] = []

    async def call() -> list[TurnRecord]:
        loop = asyncio.get_running_loop()
        parts = CallParts(
            ScriptedSTT(["Hi."]), ScriptedBrain("Hello.", ["Hi there."]), ScriptedTTS(), ToneVad()
        )
        caller = SimulatedCaller([say(0, 500)])
        session = CallSession(
            parts, caller, TURN, CallConfig(), lambda t: seen.append((loop.time(), t))
        )
        return (await session.run()).turns

    turns = run_virtual(call())
    assert [t for _at, t in seen] == turns
    assert [t.text for t in turns] == ["Hello.", "Hi.", "Hi there."]
    # Reported live: the greeting long before the call ended.
    assert seen[0][0] < seen[-1][0] - 1.0
