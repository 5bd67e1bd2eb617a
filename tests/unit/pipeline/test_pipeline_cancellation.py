"""Ending a call leaves no task behind, whatever was going on at the time."""

from __future__ import annotations

from _pipeline_harness import LONG_ANSWER, run_call, say

from voxplane.testing.fakes import ScriptedBrain, ScriptedSTT, ScriptedTTS
from voxplane.transports.simulated import CallerPolicy


def test_normal_call() -> None:
    c = run_call([say(0, 800)], ["Hi."], ScriptedBrain("Hello.", ["Hi there."], hang_up_after=1))
    assert c.result.ended_by == "agent_hangup"
    assert not c.leftover


def test_caller_hangs_up_mid_answer() -> None:
    # The caller waits 2 s after its turn, then hangs up on the 5.4 s answer.
    c = run_call(
        [say(0, 800)],
        ["When?"],
        ScriptedBrain("Hello.", [LONG_ANSWER]),
        policy=CallerPolicy(answer_timeout_s=2.0),
    )
    assert c.result.ended_by == "caller_hangup"
    assert c.agent(1).interrupted
    assert LONG_ANSWER.startswith(c.agent(1).text) and c.agent(1).text != LONG_ANSWER
    assert not c.leftover


def test_hang_up_while_tts_is_slow() -> None:
    tts = ScriptedTTS(first_audio_s=5.0)
    policy = CallerPolicy(answer_timeout_s=1.0)
    c = run_call([say(0, 800)], ["Hi."], ScriptedBrain("Hello.", ["Sure."]), tts=tts, policy=policy)
    assert c.result.ended_by == "caller_hangup"
    assert c.ended_at < 3.0  # not held up by the synthesis in flight
    assert not c.leftover


def test_hang_up_while_speculative_stt_is_running() -> None:
    # The caller hangs up 100 ms after speaking, before the end-of-speech silence confirms:
    # the speculative STT (5 s) must be cancelled, not waited for.
    stt = ScriptedSTT(["Hi."], delay_s=5.0)
    c = run_call(
        [say(0, 800)],
        brain=ScriptedBrain("Hello."),
        stt=stt,
        policy=CallerPolicy(answer_timeout_s=0.1),
    )
    assert len(stt.calls) == 1
    assert c.ended_at < 1.5
    assert not c.leftover
