"""Test audio: real FSDD speech from ../shared and synthetic signals."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from voxplane.media.frame import Pcm16
from voxplane.media.resample import resample
from voxplane.media.vad import EnergyVad, SileroVad, Vad
from voxplane.media.wav import decode_wav

REPO_ROOT = Path(__file__).resolve().parents[3]
FSDD = REPO_ROOT.parent / "shared" / "audio" / "fsdd"
RATE = 16000
LEAD_S = 1.0
GAP_S = 0.1

VADS = [
    pytest.param(EnergyVad, id="energy"),
    pytest.param(SileroVad, id="silero", marks=pytest.mark.models),
]
MakeVad = Callable[[], Vad]


def fsdd_path(name: str) -> Path:
    path = FSDD / name
    if not path.is_file():
        pytest.fail(f"speech sample {path} is missing: tests need ../shared/audio/fsdd")
    return path


@cache
def fsdd_16k(name: str) -> Pcm16:
    """A spoken digit from FSDD (8 kHz on disk), resampled to 16 kHz."""
    samples, rate = decode_wav(fsdd_path(name).read_bytes())
    assert rate == 8000
    return resample(samples, 8000, 16000)


def sine(freq: float, rate: int, seconds: float, amplitude: float = 10000.0) -> Pcm16:
    t = np.arange(round(rate * seconds)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def white_noise(rate: int, seconds: float, rms: float, seed: int = 0) -> Pcm16:
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(0.0, rms, round(rate * seconds))).astype(np.int16)


def silence(rate: int, seconds: float) -> Pcm16:
    return np.zeros(round(rate * seconds), dtype=np.int16)


def utterance(speaker: str, digits: str) -> tuple[Pcm16, float, float]:
    """silence, digits with short gaps, silence; returns samples, speech start/end in ms."""
    parts = [silence(RATE, LEAD_S)]
    for take, digit in enumerate(digits):
        parts += [fsdd_16k(f"{digit}_{speaker}_{take}.wav"), silence(RATE, GAP_S)]
    parts[-1] = silence(RATE, LEAD_S)
    end_ms = 1000.0 * sum(len(p) for p in parts[:-1]) / RATE
    return np.concatenate(parts), 1000.0 * LEAD_S, end_ms
