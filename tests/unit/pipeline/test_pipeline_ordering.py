"""A streamed multi-sentence answer is spoken in order, synthesis ahead of playout."""

from __future__ import annotations

from _pipeline_harness import TimedTTS, run_call, say

from voxplane.testing.fakes import ScriptedBrain

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
