"""A DTMF tone decoder for tests: which keys a stretch of audio presses, in band."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voxplane.media.dtmf import KEYPAD, TONE_COLUMNS_HZ, TONE_ROWS_HZ


def _power(burst: npt.NDArray[np.float64], hz: float, rate: int) -> float:
    """The power of ``burst`` at ``hz`` (one bin of a Fourier transform at any frequency)."""
    n = np.arange(len(burst))
    return float(abs(np.dot(burst, np.exp(-2j * np.pi * hz * n / rate))) ** 2)


def detect_keys(samples: npt.NDArray[np.int16], rate: int) -> str:
    """The keys ``samples`` press, in order, other sounds among them ignored: each burst
    of sound of 20 ms or more whose strongest row tone and strongest column tone each carry
    a fifth of its energy or more and ten times the power of any other tone of their group
    (a test oracle, not a receiver for real lines)."""
    window = rate // 200  # 5 ms: the level, not each zero crossing
    level = np.convolve(np.abs(samples.astype(np.float64)), np.ones(window) / window, "same")
    loud = level > 200
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    keys = ""
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start < rate // 50:  # shorter than 20 ms: not a key
            continue
        burst = samples[start:end].astype(np.float64)
        scale = 2 / (len(burst) * float(np.dot(burst, burst)))  # a pure tone: 1
        rows = [scale * _power(burst, hz, rate) for hz in TONE_ROWS_HZ]
        columns = [scale * _power(burst, hz, rate) for hz in TONE_COLUMNS_HZ]
        row, column = int(np.argmax(rows)), int(np.argmax(columns))
        if _clear(rows, row) and _clear(columns, column):
            keys += KEYPAD[row][column]
    return keys


def _clear(shares: list[float], best: int) -> bool:
    return shares[best] >= 0.2 and all(
        shares[best] > 10 * share for i, share in enumerate(shares) if i != best
    )
