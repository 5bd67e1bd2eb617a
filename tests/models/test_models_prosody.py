"""The pitch cue on real human speech: the 12 sentences of ``../shared/audio/sentences``,
through the phone path (8 kHz μ-law, back to 16 kHz) as the pipeline hears a caller.

What the cue is measured to do there (bench/README.md, ``turn_taking.py``): it tracks each
speaker's pitch, and every whole sentence ends lower than it began (final lowering). It
does not separate mid-sentence pauses from ends well enough to hold turns on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.resample import resample
from voxplane.media.wav import decode_wav

# the cue is a measuring instrument of bench/turn_taking.py, not part of the product
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _prosody import end_prosody, pitch_track

SENTENCES = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "sentences"


def _phone(name: str) -> np.ndarray:
    samples, rate = decode_wav((SENTENCES / name).read_bytes())
    line = ulaw_decode(ulaw_encode(resample(samples, rate, 8000)))
    return resample(line, 8000, 16_000)


@pytest.fixture(scope="module")
def names() -> list[str]:
    if not SENTENCES.is_dir():
        pytest.fail(f"{SENTENCES} is missing: the model tests need ../shared/audio/sentences")
    return sorted(json.loads((SENTENCES / "transcripts.json").read_text()))


def test_each_speakers_pitch_is_tracked_in_a_speaking_range(names: list[str]) -> None:
    medians: dict[str, list[float]] = {"spk1": [], "spk2": []}
    for name in names:
        track = pitch_track(_phone(name), 16_000)
        voiced = track.f0_hz[~np.isnan(track.f0_hz)]
        assert voiced.size > 50, name  # 1.8-3.2 s of speech, most of it voiced
        medians[name.split("_")[0]].append(float(np.median(voiced)))
    # Measured medians: spk1 189-210 Hz, spk2 114-152 Hz; spk1 higher in every sentence.
    assert 170 < min(medians["spk1"]) <= max(medians["spk1"]) < 240
    assert 100 < min(medians["spk2"]) <= max(medians["spk2"]) < 170
    assert min(medians["spk1"]) > max(medians["spk2"])


def test_every_whole_sentence_ends_lower_than_it_began(names: list[str]) -> None:
    for name in names:
        cue = end_prosody(pitch_track(_phone(name), 16_000))
        assert cue.measured, name
        assert cue.final_vs_onset_st < 0, (name, cue)
