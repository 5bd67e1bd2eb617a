"""Signal level in dBFS for mono int16 audio."""

from __future__ import annotations

import math

import numpy as np

from voxplane.media.frame import Pcm16

FLOOR_DBFS = -100.0
"""Level reported for digital silence (and anything quieter)."""


def rms_dbfs(samples: Pcm16) -> float:
    """RMS level relative to a full-scale square wave (0 dBFS), floored at ``FLOOR_DBFS``."""
    if samples.size == 0:
        return FLOOR_DBFS
    mean_square = float(np.mean(np.square(samples, dtype=np.float64)))
    if mean_square <= 0.0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 10.0 * math.log10(mean_square / 32768.0**2))


def is_silent(samples: Pcm16, dbfs: float = -60.0) -> bool:
    """True when the RMS level of ``samples`` is at or below ``dbfs``."""
    return rms_dbfs(samples) <= dbfs


def speech_dbfs(samples: Pcm16, window: int = 320, gate_dbfs: float = -45.0) -> float:
    """RMS level over the windows louder than ``gate_dbfs`` (pauses do not count).

    A gated level, as loudness meters use: two sentences said equally loud measure the
    same even when one has longer pauses. ``FLOOR_DBFS`` when nothing passes the gate.
    """
    usable = samples.size - samples.size % window
    if usable == 0:
        return FLOOR_DBFS
    windows = samples[:usable].reshape(-1, window).astype(np.float64)
    mean_squares = np.mean(np.square(windows), axis=1)
    gate = (32768.0**2) * 10 ** (gate_dbfs / 10)
    loud = mean_squares[mean_squares > gate]
    if loud.size == 0:
        return FLOOR_DBFS
    return 10.0 * math.log10(float(np.mean(loud)) / 32768.0**2)
