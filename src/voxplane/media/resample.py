"""Sample-rate conversion for mono int16 audio on libsoxr.

Quality is ``"HQ"`` by default. Of the two the platform allows (HQ, MQ), HQ buffers *less*
inside libsoxr when fed 20 ms chunks (measured worst-case hold-back: 8k↔16k HQ 115 ms vs MQ
118 ms; 22.05k→8k HQ 80 ms vs MQ 82 ms) and sounds better, so MQ buys nothing here. Callers
that need lower latency may pass ``"LQ"`` (≈60 ms at 8k↔16k) or ``"QQ"`` (cubic, no hold-back,
but aliases when downsampling).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import soxr

from voxplane.errors import AudioError
from voxplane.media.frame import Pcm16

Quality = Literal["VHQ", "HQ", "MQ", "LQ", "QQ"]

DEFAULT_QUALITY: Quality = "HQ"

_MIN_RATE = 1000
_MAX_RATE = 384_000


def _check_rate(rate: int) -> None:
    if not _MIN_RATE <= rate <= _MAX_RATE:
        raise AudioError(f"sample rate {rate} Hz is outside {_MIN_RATE}..{_MAX_RATE} Hz")


def _as_pcm16(samples: Pcm16) -> Pcm16:
    if samples.ndim != 1:
        raise AudioError(f"expected mono samples (1-D), got shape {samples.shape}")
    return np.ascontiguousarray(samples, dtype=np.int16)


class Resampler:
    """Streaming mono int16 resampler that keeps filter state across chunks.

    Feed chunks of any length to :meth:`process`; call :meth:`flush` once at the end of the
    stream to drain what libsoxr still holds. Output may lag input (see the module docstring);
    the total output length after :meth:`flush` is ``round(n_in * out_rate / in_rate)``.
    When the rates are equal the samples pass through unchanged.
    """

    def __init__(self, in_rate: int, out_rate: int, quality: Quality = DEFAULT_QUALITY) -> None:
        _check_rate(in_rate)
        _check_rate(out_rate)
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality: Quality = quality
        self._stream: soxr.ResampleStream | None = None
        self._new_stream()

    def _new_stream(self) -> None:
        self._stream = None
        if self.in_rate != self.out_rate:
            self._stream = soxr.ResampleStream(
                self.in_rate, self.out_rate, 1, dtype="int16", quality=self.quality
            )

    @property
    def passthrough(self) -> bool:
        """True when the rates are equal and samples are returned unchanged."""
        return self._stream is None

    def process(self, samples: Pcm16) -> Pcm16:
        """Resample one chunk; returns whatever output is ready (possibly empty)."""
        pcm = _as_pcm16(samples)
        if self._stream is None:
            return pcm.copy()
        out: Pcm16 = self._stream.resample_chunk(pcm)
        return out

    def flush(self) -> Pcm16:
        """End the stream and return the held-back tail; the resampler is then fresh again."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        tail: Pcm16 = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self._new_stream()
        return tail

    def reset(self) -> None:
        """Drop all held state (e.g. after a barge-in clears the stream)."""
        self._new_stream()


def resample(
    samples: Pcm16, in_rate: int, out_rate: int, quality: Quality = DEFAULT_QUALITY
) -> Pcm16:
    """Resample a whole mono int16 buffer in one call."""
    _check_rate(in_rate)
    _check_rate(out_rate)
    pcm = _as_pcm16(samples)
    if in_rate == out_rate:
        return pcm.copy()
    out: Pcm16 = soxr.resample(pcm, in_rate, out_rate, quality=quality)
    return out
