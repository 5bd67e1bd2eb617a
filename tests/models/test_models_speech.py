"""Whisper and Piper on real audio: spoken digits, and Piper's speech read back."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Levenshtein

from voxplane.media.frame import Pcm16
from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.level import speech_dbfs
from voxplane.media.resample import resample
from voxplane.media.wav import decode_wav
from voxplane.providers.base import SttHint
from voxplane.providers.flow.engine import DIGITS_PROMPT
from voxplane.providers.flow.slots import extract_digits
from voxplane.providers.flow.text import normalize
from voxplane.providers.piper import PiperTTS
from voxplane.providers.whisper import WhisperSTT
from voxplane.runtime.factory import LocalModels


def _utterance(fsdd: Path, digits: str, rng: random.Random) -> Pcm16:
    """Spoken digits joined with short gaps, through the 8 kHz μ-law phone path."""
    parts = [np.zeros(2400, np.int16)]
    for digit in digits:
        speaker = rng.choice(["jackson", "nicolas", "theo"])
        samples, _rate = decode_wav(
            (fsdd / f"{digit}_{speaker}_{rng.randrange(5)}.wav").read_bytes()
        )
        parts += [samples, np.zeros(int(8000 * rng.uniform(0.15, 0.3)), np.int16)]
    phone = ulaw_decode(ulaw_encode(np.concatenate(parts)))
    return resample(phone, 8000, 16_000)


def test_spoken_digits_are_transcribed(models: LocalModels, fsdd: Path) -> None:
    stt = WhisperSTT(models.whisper)
    rng = random.Random(2026)
    cases = [
        "".join(rng.choice("0123456789") for _ in range(rng.choice([3, 4]))) for _ in range(12)
    ]
    hint = SttHint("digits", DIGITS_PROMPT)

    async def transcribe_all() -> list[str]:
        return [(await stt.recognize(_utterance(fsdd, d, rng), hint)).text for d in cases]

    heard = asyncio.run(transcribe_all())
    got = [extract_digits(text) or "" for text in heard]
    errors = sum(Levenshtein.distance(g, truth) for g, truth in zip(got, cases, strict=True))
    total = sum(len(c) for c in cases)
    assert 1 - errors / total >= 0.9, list(zip(cases, heard, strict=True))


def test_piper_speech_reads_back_through_whisper(models: LocalModels) -> None:
    tts, stt = PiperTTS(models.piper), WhisperSTT(models.whisper)
    sentences = [
        "Thank you for calling, how can I help you today?",
        "Your appointment is on Tuesday at ten thirty in the morning.",
        "We accept most major dental plans.",
    ]

    async def round_trip(text: str) -> str:
        chunks = [chunk async for chunk in tts.synthesize(text)]
        audio = np.concatenate([c.samples for c in chunks])
        phone = resample(audio, tts.capabilities.sample_rate, 8000)
        back = resample(ulaw_decode(ulaw_encode(phone)), 8000, 16_000)
        return (await stt.recognize(back)).text

    for sentence in sentences:
        heard = asyncio.run(round_trip(sentence))
        said, got = normalize(sentence).split(), normalize(heard).split()
        wer = Levenshtein.distance(said, got) / len(said)
        assert wer <= 0.2, (sentence, heard)


def test_piper_sentences_have_the_same_loudness(models: LocalModels) -> None:
    tts = PiperTTS(models.piper, loudness_dbfs=-20.0)
    text = "Hi! We're open Monday to Friday, from eight until five. Is there anything else?"

    async def levels() -> list[float]:
        return [speech_dbfs(chunk.samples) async for chunk in tts.synthesize(text)]

    found = asyncio.run(levels())
    assert len(found) == 3
    assert max(found) - min(found) <= 1.0, found
    assert all(-21.0 <= level <= -19.0 for level in found), found
