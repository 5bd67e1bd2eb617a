"""The caller's recent audio, addressable by caller-audio time, for STT on a turn."""

from __future__ import annotations

import numpy as np

from voxplane.media.frame import Pcm16


class AudioHistory:
    """A bounded buffer of 16 kHz caller audio; positions are ms since the call started."""

    def __init__(self, capacity_ms: int, sample_rate: int = 16_000) -> None:
        self._rate = sample_rate
        self._capacity = capacity_ms * sample_rate // 1000
        self._buffer = np.zeros(self._capacity, dtype=np.int16)
        self._total = 0  # samples ever appended

    @property
    def end_ms(self) -> float:
        """Caller-audio time of the newest sample."""
        return 1000.0 * self._total / self._rate

    def append(self, samples: Pcm16) -> None:
        total = self._total + len(samples)
        samples = samples[-self._capacity :]  # older samples would be overwritten anyway
        pos = (total - len(samples)) % self._capacity
        first = min(len(samples), self._capacity - pos)
        self._buffer[pos : pos + first] = samples[:first]
        self._buffer[: len(samples) - first] = samples[first:]
        self._total = total

    def slice(self, start_ms: float, end_ms: float) -> Pcm16:
        """Audio between two caller-audio times, clipped to what is still held."""
        oldest = max(0, self._total - self._capacity)
        start = max(oldest, int(start_ms * self._rate / 1000))
        end = min(self._total, int(end_ms * self._rate / 1000))
        if end <= start:
            return np.zeros(0, dtype=np.int16)
        index = np.arange(start, end) % self._capacity
        return self._buffer[index]
