"""VAD → turn detector on a real spoken utterance: one turn, at the right place."""

from __future__ import annotations

import pytest
from _media_audio import VADS, MakeVad, utterance

from voxplane.media.turn import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnDetector,
    TurnEnded,
    TurnEvent,
    TurnSettings,
)


@pytest.mark.parametrize("make_vad", VADS)
@pytest.mark.parametrize(("speaker", "digits"), [("jackson", "427"), ("theo", "853")])
def test_one_turn_from_speech_start_to_end(make_vad: MakeVad, speaker: str, digits: str) -> None:
    vad = make_vad()
    turn_settings = TurnSettings(min_speech_ms=100, end_of_speech_ms=500, max_turn_ms=30_000)
    detector = TurnDetector(turn_settings)
    samples, start_ms, end_ms = utterance(speaker, digits)
    events: list[tuple[float, TurnEvent]] = []
    now = 0.0
    for i in range(0, len(samples), 320):  # 20 ms transport frames
        for prob in vad.push(samples[i : i + 320]):
            now += vad.window_ms
            events += [(now, e) for e in detector.update(prob, now, vad.window_ms)]

    kinds = [type(e) for _, e in events]
    assert kinds[0] is SpeechStarted
    assert kinds[-1] is TurnEnded
    assert kinds.count(SpeechStarted) == kinds.count(TurnEnded) == 1
    assert kinds.count(SpeechPaused) == kinds.count(SpeechResumed) + 1
    started, ended = events[0][1], events[-1][1]
    assert isinstance(started, SpeechStarted)
    assert isinstance(ended, TurnEnded)
    assert abs(started.start_ms - start_ms) <= 100
    assert ended.reason == "silence"
    assert ended.start_ms == started.start_ms
    assert abs(ended.end_ms - end_ms) <= 100
    assert events[-1][0] == pytest.approx(ended.end_ms + 500, abs=vad.window_ms)
