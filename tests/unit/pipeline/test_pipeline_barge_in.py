"""Barge-in: long caller speech cuts the agent; backchannels do not."""

from __future__ import annotations

import numpy as np
from _pipeline_harness import LONG_ANSWER, TURN, run_call, say

from voxplane.agents.schema import CallConfig
from voxplane.media.frame import Pcm16
from voxplane.testing.fakes import ScriptedBrain, ToneVad, caller_speech, silence
from voxplane.transports.simulated import CallerTurn

MS_PER_WORD = 300  # ScriptedTTS default


def test_caller_talking_over_the_agent_cuts_it_to_what_was_heard() -> None:
    brain = ScriptedBrain("Hello.", [LONG_ANSWER, "Every Saturday."], hang_up_after=2)
    # The caller starts 1.5 s into the answer (past the 1.2 s continuation window) and
    # speaks for 1.2 s (> 500 ms barge-in minimum).
    c = run_call(
        [say(0, 800), say(1, 1200, barge_in_at_ms=1500)], ["When?", "Which Saturday?"], brain
    )
    cut, barge = c.agent(1), c.user(1)
    assert cut.interrupted
    played_ms = cut.end_ms - cut.start_ms
    assert abs(cut.end_ms - barge.start_ms - TURN.barge_in.min_speech_ms) <= 20
    heard = cut.text.split()
    assert heard == LONG_ANSWER.split()[: played_ms // MS_PER_WORD] and len(heard) == 6
    assert brain.heard_on_interrupt == [cut.text]
    assert c.caller.sink.cleared == 1
    assert c.texts()[3:] == ["Which Saturday?", "Every Saturday."]
    assert c.result.false_starts == 0  # a new question, not a pause: not a false start


def test_backchannel_over_the_agent_does_not_interrupt() -> None:
    brain = ScriptedBrain("Hello.", [LONG_ANSWER])
    c = run_call([say(0, 800), say(1, 300, barge_in_at_ms=1000)], ["When?", "Mm-hmm."], brain)
    assert c.texts() == ["Hello.", "When?", LONG_ANSWER]
    assert not c.agent(1).interrupted
    assert brain.received == ["When?"]
    assert brain.heard_on_interrupt == []
    assert c.caller.sink.cleared == 0


def test_short_words_that_are_not_a_backchannel_do_interrupt() -> None:
    brain = ScriptedBrain("Hello.", [LONG_ANSWER, "Okay."])
    c = run_call([say(0, 800), say(1, 300, barge_in_at_ms=1500)], ["When?", "Stop."], brain)
    assert c.agent(1).interrupted
    assert LONG_ANSWER.startswith(c.agent(1).text)
    assert brain.received == ["When?", "Stop."]
    assert c.texts()[-2:] == ["Stop.", "Okay."]
    assert c.caller.sink.cleared == 1


def test_talking_over_a_reprompt_does_not_tell_the_brain() -> None:
    # The caller starts its turn at 1.06 s (0.7 s after the greeting) with 1.5 s of
    # silence, so it talks over the reprompt that starts at 2.45 s.
    audio = np.concatenate([silence(1500), caller_speech(0, 1000)])
    brain = ScriptedBrain("Hello.", ["Welcome back."])
    quiet = CallConfig(silence_timeout_ms=2000)
    c = run_call([CallerTurn(audio, 16_000)], ["I'm here."], brain, call=quiet)
    assert c.agent(1).interrupted and quiet.silence_reprompt.startswith(c.agent(1).text)
    assert brain.heard_on_interrupt == []  # the brain never said the reprompt
    assert c.texts()[-2:] == ["I'm here.", "Welcome back."]


def test_a_caller_who_only_paused_is_answered_once_for_the_whole_turn() -> None:
    # "Four two" ... 300 ms+ pause ends the turn, the agent starts answering, and "seven
    # one" follows 0.3 s into that answer: the answer is dropped and the brain, rolled
    # back, answers both parts as one turn.
    echo = [lambda text: f"{LONG_ANSWER} You said {text}"] * 2
    brain = ScriptedBrain("Hello.", echo)
    c = run_call([say(0, 800), say(1, 700, barge_in_at_ms=300)], ["Four two.", "Seven one."], brain)
    assert brain.rolled_back == [["Four two."]]
    assert brain.received == ["Four two. Seven one."]
    assert c.texts("user") == ["Four two. Seven one."]
    assert c.agent(1).interrupted
    assert c.texts("agent")[-1].endswith("You said Four two. Seven one.")
    assert [m.turn for m in c.result.metrics] == [1]
    assert c.result.false_starts == 1  # the caller heard the answer begin in their pause


def test_continuation_can_be_switched_off() -> None:
    brain = ScriptedBrain("Hello.", [LONG_ANSWER, "Got it."])
    no_merge = TURN.model_copy(update={"continuation_ms": 0})
    c = run_call(
        [say(0, 800), say(1, 700, barge_in_at_ms=300)],
        ["Four two.", "Seven one."],
        brain,
        turn=no_merge,
    )
    assert brain.rolled_back == []
    assert c.texts("user") == ["Four two.", "Seven one."]


class _PromptLog(ToneVad):
    """Notes, for each push, whether the listener asked for every window's score at once."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[bool] = []

    def push(self, samples: Pcm16) -> list[float]:
        self.asked.append(self.prompt)
        return super().push(samples)


def test_the_vad_scores_every_window_at_once_only_while_the_agent_speaks() -> None:
    # A VAD may run windows of confident speech together, later (Silero's hold); over the
    # agent a barge-in must not wait for that, so the listener asks for prompt scores.
    vad = _PromptLog()
    brain = ScriptedBrain("Hello there, how can I help you today?", ["Fine."], hang_up_after=1)
    c = run_call([say(0, 800)], ["Hi."], brain, vad=vad)
    greeting = c.agent(0)
    assert greeting.end_ms - greeting.start_ms > 1000
    pushes_ms = 20  # the simulated caller's frames
    during = vad.asked[
        (greeting.start_ms + 100) // pushes_ms : (greeting.end_ms - 100) // pushes_ms
    ]
    assert during and all(during)
    assert not all(vad.asked)  # and not while the agent is quiet
