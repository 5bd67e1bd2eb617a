"""A streaming recognizer behind the StreamingSTT contract, with no batch adapter.

ScriptedStreamingSTT (a scripted fake) hears the caller's tones as they are pushed and
publishes an interim result every 300 ms of one utterance.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from _pipeline_harness import LONG_ANSWER, TURN, run_call, say

from voxplane.providers.base import BrainEvent
from voxplane.testing.fakes import ScriptedBrain, ScriptedStreamingSTT


class TimedBrain(ScriptedBrain):
    def __init__(self, greeting: str, replies: list[str]) -> None:
        super().__init__(greeting, replies)
        self.interrupted_at: list[float] = []
        self.responded_at: list[float] = []

    def on_interrupted(self, heard_text: str) -> None:
        super().on_interrupted(heard_text)
        self.interrupted_at.append(asyncio.get_running_loop().time())

    def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        self.responded_at.append(asyncio.get_running_loop().time())
        return super().respond(user_text)


def test_turns_are_flushed_and_answered() -> None:
    stt = ScriptedStreamingSTT(["Book a cleaning.", "Tuesday."])
    brain = ScriptedBrain("Hello.", ["Which day?", "Booked."], hang_up_after=2)
    c = run_call([say(0, 1000), say(1, 700)], brain=brain, stt=stt)
    assert c.texts() == ["Hello.", "Book a cleaning.", "Which day?", "Tuesday.", "Booked."]
    assert len(stt.flushes) == 2
    assert c.result.stt_audio_ms == sum(end - start + 450 for start, end in stt.flushes)
    assert all(m.voice_to_voice_ms is not None for m in c.result.metrics)


def test_interim_words_cut_a_paused_agent_while_the_caller_still_speaks() -> None:
    stt = ScriptedStreamingSTT(["When?", "Which Saturday do you mean?"])
    brain = TimedBrain("Hello.", [LONG_ANSWER, "Sure."])
    c = run_call([say(0, 800), say(1, 1500, barge_in_at_ms=1500)], brain=brain, stt=stt)
    cut, barge = c.agent(1), c.user(1)
    assert cut.interrupted and brain.heard_on_interrupt == [cut.text]
    assert abs(cut.end_ms - barge.start_ms - TURN.barge_in.min_speech_ms) <= 20
    (cut_at,) = brain.interrupted_at
    # Cut at the 600 ms interim, answered after 1.5 s of speech and 300 ms of silence.
    assert brain.responded_at[-1] - cut_at >= 0.9 + 0.3 - 0.1
    assert c.texts()[-2:] == ["Which Saturday do you mean?", "Sure."]


def test_interim_backchannels_do_not_cut_the_agent() -> None:
    stt = ScriptedStreamingSTT(["When?", "Okay, okay, right."])
    brain = ScriptedBrain("Hello.", [LONG_ANSWER])
    c = run_call([say(0, 800), say(1, 1500, barge_in_at_ms=1500)], brain=brain, stt=stt)
    assert c.texts() == ["Hello.", "When?", LONG_ANSWER]
    assert not c.agent(1).interrupted
    assert c.result.resumed_after_backchannel == 1
