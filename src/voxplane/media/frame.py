"""The audio frame that flows through a call: mono, signed 16-bit PCM."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Pcm16 = npt.NDArray[np.int16]
"""Mono signed 16-bit samples."""

FRAME_MS = 20
"""Every transport and the pacer work in 20 ms frames."""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """A run of mono 16-bit PCM samples at ``sample_rate`` Hz."""

    samples: Pcm16
    sample_rate: int

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate


def samples_per_frame(sample_rate: int, ms: int = FRAME_MS) -> int:
    """Number of samples in ``ms`` milliseconds at ``sample_rate``."""
    return sample_rate * ms // 1000


def to_float(samples: Pcm16) -> npt.NDArray[np.float32]:
    """int16 → float32 in [-1, 1)."""
    return samples.astype(np.float32) / 32768.0


def to_pcm16(samples: npt.NDArray[np.floating]) -> Pcm16:
    """float in [-1, 1] → int16, clipped."""
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
