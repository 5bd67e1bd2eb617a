"""Caller speech for the benchmarks: real spoken digits (FSDD) and Piper-made sentences.

Every utterance knows where its speech really ends, so the bench can measure latency from
the true end of the caller's voice, not only from where the VAD thought it ended.
"""

from __future__ import annotations

import random
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxplane.media.frame import Pcm16, to_pcm16
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.resample import resample

FSDD_RATE = 8000
SPEAKERS = ("jackson", "nicolas", "theo")
DEV_TAKES = (0, 1, 2)
HELD_OUT_TAKES = (3, 4)
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CALLER_SENTENCES = (
    "Hi, I'd like to book a cleaning for next week, please.",
    "What time do you open on Friday morning?",
    "Do you take Delta Dental insurance?",
    "I'm calling about the appointment I made last month.",
)
_TRIM_DB = 35.0
"""Frames this far below an utterance's loudest frame count as silence."""
_MARGIN_S = 0.03


@dataclass(frozen=True, slots=True)
class Utterance:
    """Caller audio and what is in it; ``speech_end_s`` is where the voice really stops."""

    samples: Pcm16
    rate: int
    speech_end_s: float
    digits: str | None = None
    """The digits spoken, for FSDD utterances."""
    text: str = ""


def shared_dir() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared"


def fsdd_dir() -> Path:
    path = shared_dir() / "audio" / "fsdd"
    if not (path / "0_jackson_0.wav").is_file():
        raise SystemExit(
            f"bench: spoken digits not found at {path}; the bench needs ../shared/audio/fsdd "
            "(the Free Spoken Digit Dataset at 8 kHz) next to the repository"
        )
    return path


def read_wav(path: Path) -> tuple[Pcm16, int]:
    with wave.open(str(path), "rb") as f:
        if f.getsampwidth() != 2 or f.getnchannels() != 1:
            raise SystemExit(f"bench: {path} is not 16-bit mono PCM")
        data = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16).copy()
        return data, f.getframerate()


def speech_bounds(samples: Pcm16, rate: int) -> tuple[int, int]:
    """First and last sample of speech (energy relative to the loudest 10 ms frame)."""
    frame = rate // 100
    usable = len(samples) - len(samples) % frame
    if usable == 0:
        return 0, len(samples)
    blocks = samples[:usable].astype(np.float64).reshape(-1, frame)
    rms = np.sqrt(np.mean(blocks**2, axis=1)) + 1e-9
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -_TRIM_DB)
    return int(loud[0]) * frame, int(loud[-1] + 1) * frame


def trim(samples: Pcm16, rate: int) -> tuple[Pcm16, int]:
    """The speech with a short margin either side, and the index where the speech ends."""
    start, end = speech_bounds(samples, rate)
    begin = max(0, start - round(_MARGIN_S * rate))
    return samples[begin : end + round(_MARGIN_S * rate)], end - begin


class DigitBank:
    """FSDD recordings, trimmed, indexed by (digit, speaker, take)."""

    def __init__(self, root: Path) -> None:
        self._clips: dict[tuple[int, str, int], Pcm16] = {}
        for digit in range(10):
            for speaker in SPEAKERS:
                for take in range(5):
                    path = root / f"{digit}_{speaker}_{take}.wav"
                    if path.is_file():
                        samples, rate = read_wav(path)
                        if rate != FSDD_RATE:
                            samples = resample(samples, rate, FSDD_RATE)
                        self._clips[digit, speaker, take] = trim(samples, FSDD_RATE)[0]

    def clip(self, digit: int, speaker: str, take: int) -> Pcm16:
        """One trimmed recording of ``digit``."""
        return self._clips[digit, speaker, take]

    def utterances(
        self, count: int, takes: tuple[int, ...], seed: int, gaps: tuple[float, float]
    ) -> list[Utterance]:
        """``count`` strings of 3-4 digits, one speaker each, joined with short pauses."""
        rng = random.Random(seed)
        out: list[Utterance] = []
        while len(out) < count:
            speaker = rng.choice(SPEAKERS)
            digits = [rng.randrange(10) for _ in range(rng.choice((3, 4)))]
            parts: list[Pcm16] = []
            for i, digit in enumerate(digits):
                key = (digit, speaker, rng.choice(takes))
                if key not in self._clips:
                    break
                if i:
                    parts.append(np.zeros(round(rng.uniform(*gaps) * FSDD_RATE), np.int16))
                parts.append(self._clips[key])
            else:
                samples = np.concatenate(parts)
                end = len(samples) - round(_MARGIN_S * FSDD_RATE)
                text = " ".join(WORDS[d] for d in digits)
                spoken = "".join(map(str, digits))
                out.append(Utterance(samples, FSDD_RATE, end / FSDD_RATE, spoken, text))
        return out


def caller_sentences(engine: object, texts: tuple[str, ...] = CALLER_SENTENCES) -> list[Utterance]:
    """Sentences in a voice that is not the agent's: Piper, slowed, then pitched up 15 %.

    Playing 22.05 kHz audio as if it were 25.4 kHz raises pitch and tempo by 15 %; the
    synthesis is slowed by as much first, so the words keep their natural pace.
    """
    from voxplane.providers.piper import PiperEngine

    assert isinstance(engine, PiperEngine)
    shift = 1.15
    out: list[Utterance] = []
    for text in texts:
        audio = np.concatenate(list(engine.sentences(text, 1.0 / shift)))
        audio = audio * (0.3 / max(1e-6, float(np.max(np.abs(audio)))))
        rate = round(engine.sample_rate * shift)
        samples = resample(to_pcm16(audio), rate, FSDD_RATE)
        samples, end = trim(samples, FSDD_RATE)
        out.append(Utterance(samples, FSDD_RATE, end / FSDD_RATE, None, text))
    return out


def phone_line(samples: Pcm16) -> Pcm16:
    """What 8 kHz audio sounds like after a G.711 μ-law hop."""
    return ulaw_decode(ulaw_encode(samples))


def real_sentences(speakers: tuple[str, ...] = ("spk1", "spk2")) -> list[Utterance]:
    """The real human sentences of ``../shared/audio/sentences`` at 8 kHz, trimmed, with
    their published texts (``spk1`` reads clearly, ``spk2`` faster and less clearly)."""
    import json

    root = shared_dir() / "audio" / "sentences"
    if not (root / "transcripts.json").is_file():
        raise SystemExit(f"bench: real sentences not found at {root}")
    texts: dict[str, str] = json.loads((root / "transcripts.json").read_text())
    out: list[Utterance] = []
    for name, text in sorted(texts.items()):
        if name.split("_")[0] not in speakers:
            continue
        samples, rate = read_wav(root / name)
        samples, end = trim(resample(samples, rate, FSDD_RATE), FSDD_RATE)
        out.append(Utterance(samples, FSDD_RATE, end / FSDD_RATE, None, text))
    return out
