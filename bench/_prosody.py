"""Prosody at the end of a stretch of speech: how the pitch and the level moved last.

A speaker finishing an utterance tends to let the pitch fall (final lowering) and the level
die away; one pausing mid-sentence tends to hold the pitch level or raise it. This module
measures that from mono int16 audio (any rate, 16 kHz in the pipeline) with numpy only:

- a YIN pitch tracker (de Cheveigné and Kawahara 2002) on 40 ms windows every 10 ms,
  60-400 Hz, voiced where the cumulative-mean-normalised difference dips under
  ``YIN_THRESHOLD`` and the frame is within 35 dB of the loudest and over -60 dBFS;
- over the last ``tail_ms`` of voiced frames before the end of the audio: the pitch slope
  (semitones per second, least squares) and the level slope (dB per second); and where the
  last 100 ms of voiced pitch sit against the onset (the first 500 ms of voiced speech: the
  declination of a whole utterance) and against the median of all voiced speech.

``ProsodyRule`` turns the figures into a judgement. Measured on real sentences (see
bench/README.md, ``turn_taking.py``), it does not separate mid-sentence pauses from ends
well enough to hold turns on, so the pipeline does not use it; it stays for measurement.

Pure: samples in, numbers out; no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voxplane.errors import ConfigError
from voxplane.media.frame import Pcm16

HOP_S = 0.010
WINDOW_S = 0.025
F0_MIN_HZ = 60.0
F0_MAX_HZ = 400.0
YIN_THRESHOLD = 0.2
"""A frame is voiced where YIN's normalised difference dips below this (0 is periodic)."""
VOICED_RANGE_DB = 35.0
"""Frames quieter than the loudest by more than this are not speech."""
FLOOR_DB = -60.0
"""Nor are frames under this level (dBFS of the mean square)."""


@dataclass(frozen=True, slots=True)
class PitchTrack:
    """Per 10 ms frame: pitch in Hz (NaN where unvoiced) and level in dBFS."""

    f0_hz: npt.NDArray[np.float64]
    level_db: npt.NDArray[np.float64]
    hop_s: float = HOP_S


@dataclass(frozen=True, slots=True)
class EndProsody:
    """How the last voiced speech before the end moved.

    ``voiced_frames`` counts the tail's voiced frames; with fewer than a handful the other
    figures are 0 and mean nothing (see ``measured``).
    """

    pitch_slope_st_s: float
    """Pitch slope over the tail, semitones per second (negative: falling)."""
    final_vs_onset_st: float
    """The last 100 ms of voiced pitch against the first 500 ms, semitones (negative:
    lower at the end than at the start)."""
    final_vs_median_st: float
    """The tail's last 100 ms of pitch against the median of all voiced speech, semitones."""
    level_slope_db_s: float
    """Level slope over the tail's voiced frames, dB per second."""
    voiced_frames: int

    @property
    def measured(self) -> bool:
        return self.voiced_frames >= 5


def pitch_track(samples: Pcm16, rate: int) -> PitchTrack:
    """YIN pitch and frame level of ``samples`` (mono int16 at ``rate`` Hz)."""
    if rate < 2 * F0_MAX_HZ * 4:
        raise ConfigError(f"prosody: sample rate {rate} Hz is too low for pitch tracking")
    x = samples.astype(np.float64) / 32768.0
    hop, width = round(rate * HOP_S), round(rate * WINDOW_S)
    lag_min, lag_max = int(rate / F0_MAX_HZ), int(np.ceil(rate / F0_MIN_HZ))
    span = width + lag_max
    if x.size < span:
        return PitchTrack(np.full(0, np.nan), np.full(0, -100.0))
    count = 1 + (x.size - span) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, span)[::hop][:count]
    # Difference function d(τ) = Σ_j (x_j − x_{j+τ})², j < width, from energies and a
    # cross-correlation done by FFT.
    size = 1 << int(np.ceil(np.log2(span + width)))
    head = np.zeros_like(frames)
    head[:, :width] = frames[:, :width]
    cross = np.fft.irfft(np.conj(np.fft.rfft(head, size)) * np.fft.rfft(frames, size), size)
    cross = cross[:, : lag_max + 1]
    squares = np.concatenate([np.zeros((count, 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(lag_max + 1)
    energy_head = squares[:, width : width + 1]
    energy_lag = squares[:, lags + width] - squares[:, lags]
    diff = np.maximum(energy_head + energy_lag - 2 * cross, 0.0)
    # Cumulative mean normalised difference: d'(0) = 1, d'(τ) = d(τ)·τ / Σ_{k≤τ} d(k).
    running = np.cumsum(diff[:, 1:], axis=1)
    norm = np.ones_like(diff)
    norm[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(running, 1e-12)
    f0 = np.full(count, np.nan)
    search = norm[:, lag_min:]
    for i in range(count):
        row = search[i]
        below = np.flatnonzero(row < YIN_THRESHOLD)
        if below.size == 0:
            continue
        k = int(below[0])
        while k + 1 < row.size and row[k + 1] < row[k]:
            k += 1  # down to the dip's bottom
        lag = float(k + lag_min)
        if 0 < k < row.size - 1:  # parabolic interpolation of the minimum
            a, b, c = row[k - 1], row[k], row[k + 1]
            denom = a - 2 * b + c
            if denom > 0:
                lag += 0.5 * (a - c) / denom
        f0[i] = rate / lag
    power = np.mean(frames[:, :width] ** 2, axis=1)
    level = 10 * np.log10(np.maximum(power, 1e-10))
    f0[(level < level.max() - VOICED_RANGE_DB) | (level < FLOOR_DB)] = np.nan
    return PitchTrack(f0, level, hop / rate)


def end_prosody(track: PitchTrack, tail_ms: float = 300.0) -> EndProsody:
    """The movement of pitch and level over the last ``tail_ms`` of voiced frames."""
    if tail_ms <= 0:
        raise ConfigError("prosody: tail_ms must be > 0")
    voiced = np.flatnonzero(~np.isnan(track.f0_hz))
    if voiced.size == 0:
        return EndProsody(0.0, 0.0, 0.0, 0.0, 0)
    last = int(voiced[-1])
    first = last - round(tail_ms / 1000 / track.hop_s) + 1
    tail = voiced[voiced >= first]
    if tail.size < 5:
        return EndProsody(0.0, 0.0, 0.0, 0.0, int(tail.size))
    semitones = 12 * np.log2(track.f0_hz / 100.0)
    times = tail * track.hop_s
    pitch_slope = float(np.polyfit(times, semitones[tail], 1)[0])
    level_slope = float(np.polyfit(times, track.level_db[tail], 1)[0])
    final = tail[tail > last - round(0.1 / track.hop_s)]
    end = float(np.median(semitones[final]))
    onset = float(np.median(semitones[voiced[voiced < voiced[0] + round(0.5 / track.hop_s)]]))
    median = float(np.median(semitones[voiced]))
    return EndProsody(pitch_slope, end - onset, end - median, level_slope, int(tail.size))


@dataclass(frozen=True, slots=True)
class ProsodyRule:
    """An end whose pitch has not come down from the onset sounds unfinished.

    ``min_lowering_st`` is how far (semitones) the last voiced pitch must sit under the
    onset's for the end to sound final; 3.5 was chosen on one speaker's sentences (bench).
    """

    min_lowering_st: float = 3.5

    def sounds_final(self, cue: EndProsody) -> bool:
        """False when the pitch ended less than ``min_lowering_st`` under the onset; True
        otherwise, and when too little voiced speech was measured to say."""
        if not cue.measured:
            return True
        return cue.final_vs_onset_st <= -self.min_lowering_st
