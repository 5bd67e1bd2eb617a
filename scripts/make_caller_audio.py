"""Synthesize the sample call's caller turns once; the WAVs are committed.

The caller is Piper's joe voice, slower and pitch-shifted up a few semitones so it does not
sound like the agent, then sent down to 8 kHz telephone rate. Run from the repository root:

    .venv/bin/python scripts/make_caller_audio.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxplane.media.frame import to_pcm16
from voxplane.media.resample import resample
from voxplane.media.wav import encode_wav
from voxplane.providers.piper import PiperEngine, PiperOptions, level

CALLER_LINES = [
    "Hi, what are your opening hours?",
    "Great. I'd like to book a cleaning, please.",
    "Yes, I am.",
    "Four, two, seven, one.",
    "My name is Maria Lopez.",
    "Next Tuesday, please.",
    "Ten thirty in the morning.",
    "Yes, please.",
    "No, that's all. Thank you!",
]
PITCH = 1.12  # resampling by this factor raises the pitch about two semitones
RATE = 8000
OUT = Path("examples/audio")


def main() -> None:
    engine = PiperEngine(PiperOptions())
    OUT.mkdir(parents=True, exist_ok=True)
    for index, line in enumerate(CALLER_LINES, start=1):
        audio = np.concatenate(list(engine.sentences(line, speed=0.9)))
        samples = to_pcm16(level(audio, -22.0))
        shifted = resample(samples, round(engine.sample_rate * PITCH), engine.sample_rate)
        phone = resample(shifted, engine.sample_rate, RATE)
        padded = np.concatenate([np.zeros(RATE // 5, np.int16), phone, np.zeros(RATE // 5, np.int16)])
        path = OUT / f"acme-caller-{index}.wav"
        path.write_bytes(encode_wav(padded, RATE))
        print(f"{path}: {line}")


if __name__ == "__main__":
    main()
