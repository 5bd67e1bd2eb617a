"""Pitch tracking and the end-of-speech prosody cue, on synthetic voiced tones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from voxplane.errors import ConfigError
from voxplane.media.frame import Pcm16
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.resample import resample

# the cue is a measuring instrument of bench/turn_taking.py, not part of the product
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from _prosody import (
    EndProsody,
    ProsodyRule,
    end_prosody,
    pitch_track,
)

RATE = 16_000


def sounds_final(samples: Pcm16, rate: int) -> bool:
    return ProsodyRule().sounds_final(end_prosody(pitch_track(samples, rate)))


def _glide(start_hz: float, end_hz: float, seconds: float = 1.2, rate: int = RATE) -> Pcm16:
    """A voiced-like tone (fundamental and two harmonics) gliding exponentially in pitch."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = start_hz * (end_hz / start_hz) ** (t / t[-1])
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = np.sin(phase) + 0.6 * np.sin(2 * phase) + 0.3 * np.sin(3 * phase)
    tone: Pcm16 = (0.25 * 32767 * wave / np.max(np.abs(wave))).astype(np.int16)
    return tone


@pytest.mark.parametrize("hz", [80.0, 150.0, 220.0, 350.0])
def test_a_steady_tone_is_tracked_at_its_pitch(hz: float) -> None:
    track = pitch_track(_glide(hz, hz, 0.5), RATE)
    voiced = track.f0_hz[~np.isnan(track.f0_hz)]
    assert voiced.size >= 0.8 * track.f0_hz.size
    assert np.all(np.abs(voiced / hz - 1) < 0.02)


def test_a_falling_end_is_measured_falling_and_sounds_final() -> None:
    cue = end_prosody(pitch_track(_glide(200.0, 120.0), RATE))
    # 200 → 120 Hz over 1.2 s is 12·log2(0.6) = -8.8 semitones: -7.4 st/s.
    assert cue.pitch_slope_st_s == pytest.approx(-7.4, abs=0.5)
    assert cue.final_vs_onset_st < -5
    assert cue.measured
    assert sounds_final(_glide(200.0, 120.0), RATE)


@pytest.mark.parametrize(("start", "end"), [(120.0, 200.0), (150.0, 150.0), (150.0, 140.0)])
def test_a_rising_level_or_barely_falling_end_sounds_unfinished(start: float, end: float) -> None:
    tone = _glide(start, end)
    cue = end_prosody(pitch_track(tone, RATE))
    assert cue.final_vs_onset_st > -ProsodyRule().min_lowering_st
    assert not sounds_final(tone, RATE)


def test_the_rising_slope_has_the_right_sign_and_size() -> None:
    cue = end_prosody(pitch_track(_glide(120.0, 200.0), RATE))
    assert cue.pitch_slope_st_s == pytest.approx(7.4, abs=0.5)
    assert cue.final_vs_onset_st > 5


def test_the_direction_survives_the_phone_line() -> None:
    """8 kHz μ-law and back to 16 kHz, as the pipeline hears a phone caller."""
    for start, end, final in ((220.0, 110.0, True), (110.0, 220.0, False)):
        narrow = _glide(start, end, rate=8000)
        line = resample(ulaw_decode(ulaw_encode(narrow)), 8000, RATE)
        assert sounds_final(line, RATE) is final


def test_the_tail_counts_only_the_last_voiced_speech() -> None:
    """A fall, then silence: the cue is taken from before the silence."""
    tone = np.concatenate([_glide(200.0, 120.0), np.zeros(RATE // 2, np.int16)])
    cue = end_prosody(pitch_track(tone, RATE))
    assert cue.pitch_slope_st_s < -5


def test_silence_noise_and_short_audio_are_unmeasured_and_never_hold() -> None:
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal(RATE) * 3000).astype(np.int16)
    for samples in (np.zeros(RATE, np.int16), noise, np.zeros(100, np.int16)):
        cue = end_prosody(pitch_track(samples, RATE))
        assert not cue.measured
        assert ProsodyRule().sounds_final(cue)
    assert ProsodyRule().sounds_final(EndProsody(5.0, 5.0, 5.0, 0.0, 2))


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="too low"):
        pitch_track(np.zeros(4000, np.int16), 2000)
    with pytest.raises(ConfigError, match="tail_ms"):
        end_prosody(pitch_track(_glide(150.0, 150.0), RATE), tail_ms=0)
