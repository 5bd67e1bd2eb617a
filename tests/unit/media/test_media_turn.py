"""The turn detector state machine, edge by edge."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.errors import ConfigError
from voxplane.media.turn import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnDetector,
    TurnEnded,
    TurnEvent,
    TurnSettings,
)

W = 20.0  # window length in ms
SETTINGS = TurnSettings(
    min_speech_ms=100, end_of_speech_ms=200, max_turn_ms=1000, threshold=0.5, release_threshold=0.35
)


class Feed:
    """Drives a detector with 20 ms windows from t=0, collecting (window end, event)."""

    def __init__(self, turn_settings: TurnSettings = SETTINGS) -> None:
        self.detector = TurnDetector(turn_settings)
        self.now = 0.0
        self.events: list[tuple[float, TurnEvent]] = []

    def run(self, prob: float, ms: float, voice_end: float | None = None) -> list[TurnEvent]:
        new: list[TurnEvent] = []
        for _ in range(round(ms / W)):
            self.now += W
            emitted = self.detector.update(prob, self.now, W, voice_end)
            new += emitted
            self.events += [(self.now, e) for e in emitted]
        return new


def test_blip_shorter_than_min_speech_is_ignored() -> None:
    feed = Feed()
    assert feed.run(0.9, 80) == []
    assert feed.run(0.0, 1000) == []
    assert not feed.detector.in_speech


def test_exactly_min_speech_starts_at_the_true_start() -> None:
    feed = Feed()
    feed.run(0.0, 40)
    assert feed.run(0.9, 80) == []
    assert feed.run(0.9, 20) == [SpeechStarted(40.0)]
    assert feed.events[0][0] == 140.0  # emitted when 100 ms had elapsed
    assert feed.detector.in_speech
    assert feed.detector.speech_ms == 100.0
    feed.run(0.9, 60)
    assert feed.detector.speech_ms == 160.0


def test_pause_then_resume_without_turn_end() -> None:
    feed = Feed()
    feed.run(0.9, 200)
    assert feed.run(0.1, 20) == [SpeechPaused(200.0)]
    assert not feed.detector.in_speech
    assert feed.detector.speech_ms == 200.0
    assert feed.run(0.1, 160) == []  # 180 ms of silence < 200 ms
    assert feed.run(0.9, 20) == [SpeechResumed(380.0)]
    assert feed.detector.in_speech
    assert feed.run(0.9, 100) == []
    assert [type(e) for _, e in feed.events] == [SpeechStarted, SpeechPaused, SpeechResumed]


def test_turn_ends_exactly_at_end_of_speech_boundary() -> None:
    feed = Feed()
    feed.run(0.9, 300)
    feed.run(0.1, 180)
    assert feed.run(0.1, 20) == [TurnEnded(0.0, 300.0, "silence")]
    assert feed.events[-1][0] == 500.0  # speech_end + end_of_speech_ms
    assert not feed.detector.in_turn
    assert feed.detector.speech_ms == 0.0
    assert feed.run(0.1, 500) == []


def test_a_turn_ends_between_windows_when_the_newest_audio_is_quiet() -> None:
    """The silence elapses between two window ends (a longer window than the frames):
    a quiet peek at that time ends the turn there; a loud one leaves it to the next
    window; outside a pause a peek changes nothing."""
    feed = Feed()
    feed.run(0.9, 300)
    feed.run(0.1, 180)  # 180 ms of silence by 480
    detector = feed.detector
    assert not detector.end_due(490.0) and detector.end_due(500.0)
    assert detector.update_between(0.1, 490.0) == []  # not elapsed yet
    assert detector.update_between(0.9, 505.0) == []  # the caller may be going on
    assert detector.in_turn
    assert detector.update_between(0.1, 505.0) == [TurnEnded(0.0, 300.0, "silence")]
    assert not detector.in_turn and not detector.end_due(510.0)
    assert detector.update_between(0.1, 900.0) == []
    speaking = Feed()
    speaking.run(0.9, 300)
    assert not speaking.detector.end_due(900.0)
    assert speaking.detector.update_between(0.0, 900.0) == []  # not paused: no end


def test_the_silence_counts_from_where_the_voice_ended() -> None:
    """The VAD heard speech stop in the window from 300 ms; the voice's level fell under
    the line 30 ms before: the pause is dated there and the turn ends 200 ms after it."""
    feed = Feed()
    feed.run(0.9, 300, voice_end=290.0)
    assert feed.run(0.1, 20, voice_end=270.0) == [SpeechPaused(270.0)]
    assert feed.run(0.1, 140, voice_end=270.0) == []
    assert not feed.detector.end_due(469.0) and feed.detector.end_due(470.0)
    assert feed.run(0.1, 20, voice_end=270.0) == [TurnEnded(0.0, 270.0, "silence")]
    assert feed.events[-1][0] == 480.0  # the first window end past 470; undated: 500


def test_a_voice_end_is_never_moved_later_nor_more_than_max_backdate_earlier() -> None:
    late = Feed()
    late.run(0.9, 300)
    assert late.run(0.1, 20, voice_end=310.0) == [SpeechPaused(300.0)]  # not after the window
    early = Feed(dataclasses.replace(SETTINGS, max_backdate_ms=40.0))
    early.run(0.9, 300)
    assert early.run(0.1, 20, voice_end=100.0) == [SpeechPaused(260.0)]
    assert early.detector.end_due(460.0) and not early.detector.end_due(459.0)
    undated = Feed(dataclasses.replace(SETTINGS, max_backdate_ms=0.0))
    undated.run(0.9, 300)
    assert undated.run(0.1, 20, voice_end=250.0) == [SpeechPaused(300.0)]


def test_voice_heard_again_in_the_pause_moves_the_silence_on_up_to_the_window() -> None:
    """Level rising again in the pause (the next word's onset before the VAD scores it,
    or noise): the silence counts from there, but never from later than the window that
    heard the speech stop; the turn keeps the end it announced."""
    feed = Feed()
    feed.run(0.9, 300)
    assert feed.run(0.1, 20, voice_end=260.0) == [SpeechPaused(260.0)]
    feed.run(0.1, 100, voice_end=260.0)
    assert feed.detector.end_due(460.0)
    feed.run(0.1, 20, voice_end=280.0)  # heard by the window ending at 440
    assert not feed.detector.end_due(479.0) and feed.detector.end_due(480.0)
    feed.run(0.1, 20, voice_end=455.0)  # moves on no later than the window's 300
    assert not feed.detector.end_due(499.0)
    # ... and holds the end until the VAD has had 64 ms and a window past that voice.
    assert feed.run(0.1, 60, voice_end=455.0) == []
    assert not feed.detector.end_due(538.0) and feed.detector.end_due(539.0)
    assert feed.run(0.1, 20, voice_end=455.0) == [TurnEnded(0.0, 260.0, "silence")]
    assert feed.events[-1][0] == 540.0


def test_a_pause_the_level_hears_end_before_the_silence_keeps_the_turn() -> None:
    """The level hears the caller go on 190 ms into a 200 ms silence dated from the
    voice; the VAD hears it two windows later, after the silence would have elapsed:
    the resumption is dated from the level, and the turn goes on."""
    feed = Feed()
    feed.run(0.9, 300)
    assert feed.run(0.1, 20, voice_end=250.0) == [SpeechPaused(250.0)]  # due at 450
    feed.run(0.1, 100, voice_end=250.0)
    assert feed.run(0.1, 20, voice_end=440.0) == []  # voice from 440, VAD not sure yet
    assert not feed.detector.end_due(450.0, 450.0)
    assert feed.detector.update_between(0.2, 450.0, 450.0) == []
    assert feed.run(0.2, 20, voice_end=460.0) == []
    assert feed.run(0.9, 20, voice_end=480.0) == [SpeechResumed(460.0)]
    assert feed.detector.in_speech


def test_voice_the_vad_never_calls_speech_holds_the_end_a_bounded_time() -> None:
    """Noise above the line from 10 ms before the silence elapses, on and on: the end
    waits 64 ms and a window past the silence, no longer; noise earlier in the pause,
    gone by then, costs nothing."""
    feed = Feed()
    feed.run(0.9, 300)
    feed.run(0.1, 20, voice_end=250.0)  # due at 450
    feed.run(0.1, 60, voice_end=320.0)  # a breath early in the pause: silence from 300
    feed.run(0.1, 100, voice_end=320.0)  # due at 500, the breath's hold long over
    assert feed.detector.end_due(500.0) and not feed.detector.end_due(499.0)
    for now in range(490, 700, 20):
        events = feed.run(0.1, 20, voice_end=float(now + 20))
        if events:
            break
    assert events == [TurnEnded(0.0, 250.0, "silence")]
    assert feed.events[-1][0] == 600.0  # the first window end past 500 + 64 + 20


def test_paused_turn_past_max_length_ends_on_silence() -> None:
    feed = Feed()
    feed.run(0.9, 900)
    assert feed.run(0.1, 200) == [SpeechPaused(900.0), TurnEnded(0.0, 900.0, "silence")]


def test_resuming_past_max_length_cuts_at_once() -> None:
    feed = Feed()
    feed.run(0.9, 900)
    feed.run(0.1, 120)
    assert feed.run(0.9, 20) == [SpeechResumed(1020.0), TurnEnded(0.0, 1040.0, "max_length")]


def test_max_turn_length_cuts_and_restarts() -> None:
    feed = Feed()
    feed.run(0.9, 980)
    assert feed.run(0.9, 20) == [TurnEnded(0.0, 1000.0, "max_length")]
    # Still talking: a new turn is confirmed after min_speech_ms.
    assert feed.run(0.9, 80) == []
    assert feed.run(0.9, 20) == [SpeechStarted(1000.0)]


def test_hysteresis_keeps_state_between_thresholds() -> None:
    feed = Feed()
    assert feed.run(0.45, 500) == []  # below activation: stays idle
    feed.run(0.9, 100)
    assert feed.run(0.4, 500) == []  # above release: stays in speech
    assert feed.detector.in_speech
    assert feed.run(0.3, 20) == [SpeechPaused(1100.0)]
    assert feed.run(0.45, 20) == []  # below activation: stays paused, silence keeps counting
    assert feed.run(0.45, 160) == [TurnEnded(500.0, 1100.0, "silence")]


def test_unconfirmed_speech_dropping_below_release_is_discarded() -> None:
    feed = Feed()
    feed.run(0.9, 60)
    feed.run(0.2, 20)
    assert feed.run(0.9, 80) == []  # the count restarted
    assert feed.run(0.9, 20) == [SpeechStarted(80.0)]


def test_reset_forgets_speech_in_progress() -> None:
    feed = Feed()
    feed.run(0.9, 200)
    feed.detector.reset()
    assert not feed.detector.in_speech
    assert feed.run(0.1, 1000) == []  # no Paused / TurnEnded for the forgotten turn
    assert feed.run(0.9, 100) == [SpeechStarted(1200.0)]


def test_zero_end_of_speech_ends_on_first_silent_window() -> None:
    feed = Feed(TurnSettings(min_speech_ms=0, end_of_speech_ms=0, max_turn_ms=1000))
    assert feed.run(0.9, 20) == [SpeechStarted(0.0)]
    assert feed.run(0.0, 20) == [SpeechPaused(20.0), TurnEnded(0.0, 20.0, "silence")]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0.5, "release_threshold": 0.6},
        {"threshold": 1.5},
        {"min_speech_ms": -1},
        {"max_backdate_ms": -1},
        {"max_turn_ms": 100, "min_speech_ms": 200},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TurnSettings(**kwargs)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.2, 0.4, 0.6, 1.0]), st.integers(1, 60)), max_size=40
    ),
    st.sampled_from([10.0, 20.0, 32.0]),
)
def test_events_follow_the_grammar(runs: list[tuple[float, int]], window: float) -> None:
    detector = TurnDetector(SETTINGS)
    in_turn = paused = False
    start = last_time = -1.0
    probs = [prob for prob, count in runs for _ in range(count)]
    for i, prob in enumerate(probs):
        now = (i + 1) * window
        for event in detector.update(prob, now, window):
            match event:
                case SpeechStarted(start_ms=s):
                    assert not in_turn
                    assert now - s >= SETTINGS.min_speech_ms - 1e-6
                    in_turn, paused, start = True, False, s
                case SpeechPaused(speech_end_ms=t):
                    assert in_turn and not paused
                    paused = True
                    last_time = t
                case SpeechResumed(at_ms=t):
                    assert in_turn and paused
                    assert t > last_time
                    paused = False
                case TurnEnded(start_ms=s, end_ms=e, reason=reason):
                    assert in_turn and s == start and e > s
                    assert (reason == "silence") == paused
                    # A cut lands on a window end; resuming after a pause past the limit
                    # cuts in that window.
                    limit = SETTINGS.max_turn_ms
                    if reason == "max_length":
                        limit += SETTINGS.end_of_speech_ms + window
                    assert e - s <= limit + 1e-6
                    in_turn = paused = False
        assert detector.in_turn == in_turn
        assert detector.in_speech == (in_turn and not paused)
        assert 0.0 <= detector.speech_ms <= SETTINGS.max_turn_ms
