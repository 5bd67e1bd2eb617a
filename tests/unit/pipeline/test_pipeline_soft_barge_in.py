"""Soft barge-in: speech over the agent pauses (or lowers) it; the caller's words decide.

Scripted fakes on the virtual clock. The agent's answer is an 18-word, 5.4 s tone
(ScriptedTTS, 2 kHz); the caller's words are tones ScriptedSTT maps to transcripts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
from _pipeline_harness import LONG_ANSWER, TURN, Call, run_call, say

from voxplane.agents.schema import TurnConfig
from voxplane.errors import ProviderError
from voxplane.media.frame import Pcm16
from voxplane.providers.base import BrainEvent, SttHint, Transcript
from voxplane.testing.fakes import ScriptedBrain, ScriptedSTT, caller_speech, silence
from voxplane.transports.simulated import CallerTurn

MS = 16  # samples per ms at 16 kHz
BACKCHANNEL_MS = 900
"""Longer than barge_in.min_speech_ms (500 ms): today's hard barge-in would cut at 500 ms."""
HARD = TURN.model_copy(update={"barge_in": TURN.barge_in.model_copy(update={"mode": "hard"})})


def _ms_loud(track: Pcm16, start_ms: int, end_ms: int) -> float:
    """Milliseconds of ``track`` between two call times that carry the agent's voice."""
    frames = track[start_ms * MS : end_ms * MS]
    count = len(frames) // 320
    loud = np.abs(frames[: count * 320].astype(np.int32)).reshape(count, 320).max(1) > 300
    return 20.0 * int(loud.sum())


def _peak(track: Pcm16, start_ms: int, end_ms: int) -> int:
    return int(np.abs(track[start_ms * MS : end_ms * MS].astype(np.int32)).max())


def _talk_over(
    words: str,
    ms: int = BACKCHANNEL_MS,
    *,
    turn: TurnConfig = TURN,
    stt: ScriptedSTT | None = None,
) -> tuple[Call, ScriptedBrain]:
    brain = ScriptedBrain("Hello.", [LONG_ANSWER, "Sure."])
    c = run_call(
        [say(0, 800), say(1, ms, barge_in_at_ms=1500)],
        ["When?", words],
        brain,
        turn=turn,
        stt=stt,
    )
    return c, brain


def test_a_backchannel_longer_than_min_speech_pauses_the_agent_which_then_goes_on() -> None:
    c, brain = _talk_over("Uh huh, right.")
    answer, caller = c.agent(1), c.caller.recording()
    assert c.texts() == ["Hello.", "When?", LONG_ANSWER]  # every word was heard
    assert not answer.interrupted
    assert brain.received == ["When?"] and brain.heard_on_interrupt == []
    assert c.caller.sink.cleared == 0
    assert c.result.soft_barge_ins == 1 and c.result.resumed_after_backchannel == 1
    # Paused from min_speech_ms into the backchannel until its transcript said what it was.
    agent_track = caller[1]
    spoke_at = answer.start_ms + 1500
    pause_from = spoke_at + TURN.barge_in.min_speech_ms + 40
    caller_done = spoke_at + BACKCHANNEL_MS
    assert _ms_loud(agent_track, pause_from, caller_done) == 0
    assert _ms_loud(agent_track, spoke_at, spoke_at + 400) >= 380  # not before min speech
    # The whole 5.4 s answer still played, later by the pause.
    assert answer.end_ms - answer.start_ms >= 5400 + (caller_done - pause_from)


def test_hard_barge_in_cuts_the_agent_on_the_same_backchannel() -> None:
    c, brain = _talk_over("Uh huh, right.", turn=HARD)
    assert c.agent(1).interrupted
    assert brain.heard_on_interrupt == [c.agent(1).text]
    assert c.result.soft_barge_ins == 0


def test_a_real_interruption_cuts_the_agent_to_what_was_heard_before_the_pause() -> None:
    c, brain = _talk_over("Which Saturday?", 1200)
    cut, barge = c.agent(1), c.user(1)
    assert cut.interrupted
    # Heard: the words played until the pause at min_speech_ms, not those after it.
    assert abs(cut.end_ms - barge.start_ms - TURN.barge_in.min_speech_ms) <= 20
    assert cut.text.split() == LONG_ANSWER.split()[: (cut.end_ms - cut.start_ms) // 300]
    assert brain.heard_on_interrupt == [cut.text]
    assert brain.received == ["When?", "Which Saturday?"]
    assert c.texts()[-2:] == ["Which Saturday?", "Sure."]
    assert c.caller.sink.cleared == 1
    assert c.result.soft_barge_ins == 1 and c.result.resumed_after_backchannel == 0


def test_nothing_recognizable_over_the_agent_lets_it_go_on() -> None:
    # Utterance 1 has no scripted transcript: a cough, a door, a word the STT missed.
    brain = ScriptedBrain("Hello.", [LONG_ANSWER])
    c = run_call([say(0, 800), say(1, 900, barge_in_at_ms=1500)], ["When?"], brain)
    assert c.texts() == ["Hello.", "When?", LONG_ANSWER]
    assert not c.agent(1).interrupted
    assert c.result.resumed_after_backchannel == 1


class FailingSTT(ScriptedSTT):
    """Fails (not retryable) on audio holding utterance 1."""

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        transcript = await super().recognize(samples, hint)
        if "Boom" in transcript.text:
            raise ProviderError("recognizer down")
        return transcript


def test_a_recognizer_failure_over_the_agent_is_counted_and_the_agent_goes_on() -> None:
    c, _ = _talk_over("Boom.", stt=FailingSTT(["When?", "Boom."]))
    assert c.texts() == ["Hello.", "When?", LONG_ANSWER]
    assert c.result.provider_errors == {"stt": 1}


def test_ducking_lowers_the_agent_instead_of_pausing_it() -> None:
    duck = TURN.model_copy(
        update={"barge_in": TURN.barge_in.model_copy(update={"soften": "duck", "duck_db": -20})}
    )
    c, _ = _talk_over("Okay.", turn=duck)
    answer, agent_track = c.agent(1), c.caller.recording()[1]
    assert c.texts() == ["Hello.", "When?", LONG_ANSWER] and not answer.interrupted
    spoke_at = answer.start_ms + 1500
    full = _peak(agent_track, spoke_at - 400, spoke_at)
    ducked = _peak(agent_track, spoke_at + 600, spoke_at + BACKCHANNEL_MS)
    assert abs(ducked / full - 0.1) < 0.02  # -20 dB
    assert _ms_loud(agent_track, spoke_at + 600, spoke_at + BACKCHANNEL_MS) == 300  # on air
    after = answer.start_ms + 5000  # restored once the words were a backchannel
    assert abs(_peak(agent_track, after, after + 200) - full) <= full // 50
    assert answer.end_ms - answer.start_ms <= 5400 + 40  # never paused


class TimedBrain(ScriptedBrain):
    """Notes the loop time of interruptions and of each answer."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.interrupted_at: list[float] = []
        self.responded_at: list[float] = []

    def on_interrupted(self, heard_text: str) -> None:
        super().on_interrupted(heard_text)
        self.interrupted_at.append(asyncio.get_running_loop().time())

    def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        self.responded_at.append(asyncio.get_running_loop().time())
        return super().respond(user_text)


def test_words_heard_at_a_pause_cut_the_agent_before_the_turn_ends() -> None:
    # "Which Saturday ... do you mean": the guess made at the 200 ms gap already shows a
    # real interruption, so the paused agent is cut then, not after the whole turn.
    audio = np.concatenate([caller_speech(1, 700), silence(200), caller_speech(1, 600)])
    brain = TimedBrain("Hello.", [LONG_ANSWER, "Sure."])
    c = run_call(
        [say(0, 800), CallerTurn(audio, 16_000, barge_in_at_ms=1500)],
        ["When?", "Which Saturday do you mean?"],
        brain,
    )
    assert c.agent(1).interrupted
    assert brain.received == ["When?", "Which Saturday do you mean?"]
    (cut_at,) = brain.interrupted_at
    answered_at = brain.responded_at[-1]
    # Cut about 100 ms (the guess) after the gap began; answered after the last 600 ms of
    # speech, the 300 ms end-of-speech silence and the final transcript.
    assert answered_at - cut_at >= 0.6 + 0.3
    assert brain.heard_on_interrupt == [c.agent(1).text]


def test_a_slow_recognizer_does_not_leave_the_agent_paused() -> None:
    # 2 s per transcription: the agent goes on max_pause_ms (1 s) after the caller's
    # backchannel ended, without waiting for the words.
    c, _ = _talk_over("Okay, right.", stt=ScriptedSTT(["When?", "Okay, right."], delay_s=2.0))
    answer, agent_track = c.agent(1), c.caller.recording()[1]
    assert c.texts() == ["Hello.", "When?", LONG_ANSWER] and not answer.interrupted
    spoke_at = answer.start_ms + 1500
    turn_ended = spoke_at + BACKCHANNEL_MS + TURN.end_of_speech_ms
    max_pause = TURN.barge_in.max_pause_ms
    assert _ms_loud(agent_track, turn_ended, turn_ended + max_pause - 40) == 0  # paused
    assert _ms_loud(agent_track, turn_ended + max_pause + 40, turn_ended + max_pause + 640) == 600
    assert c.result.resumed_after_backchannel == 1


def test_a_real_interruption_heard_late_still_cuts_the_agent_that_went_on() -> None:
    slow = ScriptedSTT(["When?", "Which Saturday?"], delay_s=2.0)
    c, brain = _talk_over("Which Saturday?", stt=slow)
    cut = c.agent(1)
    assert cut.interrupted and brain.heard_on_interrupt == [cut.text]
    spoke_at = cut.start_ms + 1500
    went_on_at = spoke_at + BACKCHANNEL_MS + TURN.end_of_speech_ms + TURN.barge_in.max_pause_ms
    # Played until the pause, then again from max_pause_ms until the words were known.
    assert went_on_at + 500 <= cut.end_ms <= went_on_at + 1200
    assert c.texts()[-2:] == ["Which Saturday?", "Sure."]
    assert brain.received == ["When?", "Which Saturday?"]
