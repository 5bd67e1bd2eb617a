"""Speculative end of turn and voice-to-voice latency, in virtual time."""

from __future__ import annotations

import numpy as np
import pytest
from _pipeline_harness import TURN, run_call, say

from voxplane.media.frame import Pcm16
from voxplane.media.vad import Vad
from voxplane.pipeline.session import PREROLL_MS
from voxplane.testing.fakes import ScriptedBrain, ScriptedSTT, caller_speech, silence
from voxplane.transports.simulated import CallerTurn

WINDOW_MS = 20  # one ToneVad window


def test_pause_then_end_uses_the_speculative_transcript() -> None:
    c = run_call([say(0, 800)], ["Hi."], ScriptedBrain("Hello.", ["Sure."]))
    assert c.result.metrics[0].speculative_hit
    assert len(c.stt.calls) == 1


def test_short_pause_discards_the_speculation_and_keeps_one_turn() -> None:
    # One utterance with a 200 ms gap, shorter than the 300 ms end-of-speech silence.
    audio = np.concatenate([caller_speech(0, 600), silence(200), caller_speech(0, 600)])
    c = run_call(
        [CallerTurn(audio, 16_000)], ["Book a cleaning."], ScriptedBrain("Hello.", ["Sure."])
    )
    first, second = (ms for ms, _ in c.stt.calls)
    assert first == PREROLL_MS + 600 + WINDOW_MS
    assert second == PREROLL_MS + 1400 + WINDOW_MS  # the whole turn, heard again
    assert c.texts("user") == ["Book a cleaning."]
    assert c.user(0).end_ms - c.user(0).start_ms == 1400
    assert c.result.metrics[0].speculative_hit  # the speculation started at the final pause


@pytest.mark.parametrize(
    ("stt_delay_s", "v2v_ms"),
    [
        (0.1, 300 + 10 + 50),  # STT done within the end-of-speech wait: endpoint+brain+TTS
        (0.5, WINDOW_MS + 500 + 10 + 50),  # STT outlasts the silence: it sets the pace
    ],
)
def test_voice_to_voice(stt_delay_s: float, v2v_ms: int) -> None:
    stt = ScriptedSTT(["Hi."], delay_s=stt_delay_s)
    c = run_call([say(0, 800)], brain=ScriptedBrain("Hello.", ["Sure."]), stt=stt)
    metrics = c.result.metrics[0]
    assert metrics.endpoint_ms == TURN.end_of_speech_ms
    assert metrics.voice_to_voice_ms is not None
    assert abs(metrics.voice_to_voice_ms - v2v_ms) <= WINDOW_MS


class LateVad(Vad):
    """Hears tone in 32 ms windows one window late, as a network hears the end of a word
    late; with ``tells``, says where the tone ended (to the sample) like SileroVad."""

    window_samples = 512
    _was_loud: bool
    _quiet: int

    def __init__(self, tells: bool) -> None:
        super().__init__()
        self.tells = tells
        self._reset_state()

    def _score(self, window: Pcm16) -> float:
        loud = np.flatnonzero(np.abs(window.astype(np.int32)) > 300)
        heard = bool(len(loud)) or self._was_loud
        self._was_loud = bool(len(loud))
        self._quiet = len(window) - int(loud[-1]) - 1 if len(loud) else self._quiet + len(window)
        return 1.0 if heard else 0.0

    @property
    def quiet_ms(self) -> float | None:
        loud = np.flatnonzero(np.abs(self._pending.astype(np.int32)) > 300)
        pending = len(self._pending)
        quiet = pending - int(loud[-1]) - 1 if len(loud) else self._quiet + pending
        return quiet / 16 if self.tells else None

    def _reset_state(self) -> None:
        self._was_loud, self._quiet = False, 0


@pytest.mark.parametrize("tells", [True, False])
def test_the_end_of_speech_silence_counts_from_where_the_voice_ended(tells: bool) -> None:
    """A VAD that hears the end of the caller's voice a window late, but tells where it
    ended: the turn ends there, and is committed 300 ms (to a frame) after it; told
    nothing, the turn's end is the late window's, 32-64 ms after the voice."""
    c = run_call([say(0, 810)], ["Hi."], ScriptedBrain("Hello.", ["Sure."]), vad=LateVad(tells))
    user, metrics = c.user(0), c.result.metrics[0]
    heard_ms = user.end_ms - user.start_ms  # the turn starts at a window's start, <32 ms early
    if tells:
        assert 810 <= heard_ms < 810 + 32
        assert metrics.endpoint_ms is not None and 300 <= metrics.endpoint_ms < 300 + 20
    else:
        assert heard_ms >= 810 + 32


def test_without_speculation_stt_starts_at_the_endpoint() -> None:
    turn = TURN.model_copy(update={"speculative_stt": False})
    c = run_call([say(0, 800)], ["Hi."], ScriptedBrain("Hello.", ["Sure."]), turn=turn)
    metrics = c.result.metrics[0]
    assert not metrics.speculative_hit
    assert metrics.voice_to_voice_ms == 300 + 100 + 10 + 50


def test_no_speculation_while_the_recognizer_is_busy() -> None:
    # One worker, 0.8 s per request: the guess made at the 200 ms gap still runs when the
    # caller finishes, so no second guess is queued behind it; the final request is made
    # once the end-of-speech silence confirms the turn.
    audio = np.concatenate([caller_speech(0, 600), silence(200), caller_speech(0, 300)])
    stt = ScriptedSTT(["Book a cleaning."], delay_s=0.8, workers=1)
    c = run_call([CallerTurn(audio, 16_000)], stt=stt, brain=ScriptedBrain("Hello.", ["Sure."]))
    assert [ms for ms, _ in c.stt.calls] == [
        PREROLL_MS + 600 + WINDOW_MS,  # the guess at the gap
        PREROLL_MS + 1100 + 150,  # the whole turn, after the silence (with the tail)
    ]
    assert not c.result.metrics[0].speculative_hit
    assert c.texts("user") == ["Book a cleaning."]


def test_an_idle_recognizer_is_used_for_a_guess() -> None:
    stt = ScriptedSTT(["Hi."], delay_s=0.5, workers=1)
    c = run_call([say(0, 800)], stt=stt, brain=ScriptedBrain("Hello.", ["Sure."]))
    assert c.result.metrics[0].speculative_hit and len(c.stt.calls) == 1


def test_a_held_back_guess_starts_when_the_recognizer_frees_up() -> None:
    # 0.6 s per request: the gap's guess finishes 100 ms into the final pause, so the
    # held-back guess starts then, before the end-of-speech silence is over, and is used.
    audio = np.concatenate([caller_speech(0, 600), silence(200), caller_speech(0, 300)])
    stt = ScriptedSTT(["Book a cleaning."], delay_s=0.6, workers=1)
    c = run_call([CallerTurn(audio, 16_000)], stt=stt, brain=ScriptedBrain("Hello.", ["Sure."]))
    assert len(c.stt.calls) == 2
    assert c.result.metrics[0].speculative_hit
    # The guess started about 100 ms after the speech ended, so it set the pace.
    assert 700 - 20 <= c.result.metrics[0].stt_ms <= 700 + 40
