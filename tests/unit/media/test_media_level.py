"""Gated speech level."""

from __future__ import annotations

import numpy as np

from voxplane.media.level import FLOOR_DBFS, rms_dbfs, speech_dbfs


def _tone(seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (np.sin(2 * np.pi * 300 * t) * amplitude * 32767).astype(np.int16)


def test_pauses_do_not_lower_the_speech_level() -> None:
    tone = _tone(1.0, 0.1)
    with_pause = np.concatenate([tone, np.zeros(32000, np.int16)])
    assert abs(speech_dbfs(tone) - speech_dbfs(with_pause)) < 0.05
    assert rms_dbfs(with_pause) < rms_dbfs(tone) - 4  # plain RMS does drop
    # A sine of amplitude 0.1 is at 20·log10(0.1/√2) ≈ -23 dBFS.
    assert abs(speech_dbfs(tone) - (-23.01)) < 0.1


def test_silence_and_quiet_noise_are_below_the_gate() -> None:
    assert speech_dbfs(np.zeros(16000, np.int16)) == FLOOR_DBFS
    assert speech_dbfs(_tone(1.0, 0.001)) == FLOOR_DBFS
    assert speech_dbfs(np.zeros(10, np.int16)) == FLOOR_DBFS
