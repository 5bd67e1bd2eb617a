"""Silence reprompts and the maximum call length."""

from __future__ import annotations

import numpy as np
from _pipeline_harness import LONG_ANSWER, run_call, say

from voxplane.agents.schema import CallConfig
from voxplane.testing.fakes import ScriptedBrain, caller_speech, silence
from voxplane.transports.simulated import CallerTurn

QUIET = CallConfig(silence_timeout_ms=2000, max_silence_reprompts=2)
REPROMPT, GOODBYE = QUIET.silence_reprompt, QUIET.silence_goodbye


def test_silent_caller_is_reprompted_then_hung_up_on() -> None:
    c = run_call([CallerTurn(silence(20_000), 16_000)], call=QUIET)
    assert c.texts() == ["Hello.", REPROMPT, REPROMPT, GOODBYE]
    assert c.result.ended_by == "silence"
    assert c.caller.hung_up
    for before, after in zip(c.result.turns, c.result.turns[1:], strict=False):
        # Timeout, plus at most one watchdog tick (100 ms) and the TTS latency (50 ms).
        assert 2000 <= after.start_ms - before.end_ms <= 2000 + 100 + 50


def test_an_answer_resets_the_reprompt_count() -> None:
    audio = np.concatenate([silence(2800), caller_speech(0, 600), silence(14_000)])
    brain = ScriptedBrain("Hello.", ["Good."])
    c = run_call([CallerTurn(audio, 16_000)], ["Yes."], brain, call=QUIET)
    assert c.texts() == ["Hello.", REPROMPT, "Yes.", "Good.", REPROMPT, REPROMPT, GOODBYE]
    assert c.result.ended_by == "silence"


def test_max_duration_cuts_the_answer_and_says_goodbye() -> None:
    limit = CallConfig(max_duration_s=10)
    brain = ScriptedBrain("Hello.", [" ".join(["word"] * 100) + "."])
    c = run_call([say(0, 800)], ["Tell me everything."], brain, call=limit)
    assert c.result.ended_by == "max_duration"
    assert c.agent(1).interrupted and 10_000 <= c.agent(1).end_ms <= 10_150
    last = c.result.turns[-1]
    assert (last.role, last.text, last.interrupted) == ("agent", limit.max_duration_message, False)


def test_the_last_words_cannot_be_barged_in_on() -> None:
    # Talking over the goodbye used to cut it and leave the call running with no limit.
    limit = CallConfig(max_duration_s=10)
    turns = [say(0, 800), say(1, 1500, barge_in_at_ms=8500)]
    c = run_call(
        turns,
        ["Tell me.", "Wait, what?"],
        ScriptedBrain("Hello.", [f"{LONG_ANSWER} {LONG_ANSWER}"]),
        call=limit,
    )
    assert c.result.ended_by == "max_duration"
    assert c.texts("agent")[-1] == limit.max_duration_message
    assert not c.result.turns[-1].interrupted
