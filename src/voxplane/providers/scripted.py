"""Scripted providers, a benchmarking aid selected in an agent document.

``stt: {provider: scripted}``, ``brain: {type: scripted}`` and ``tts: {provider: scripted}``
take the models out of a call, so that a load generator measures the platform itself: the
transport, codecs, VAD, turn detection, pacing and the call runtime stay real. They answer at
once and cost next to nothing:

- :class:`FixedTranscriptSTT` gives each caller utterance the next scripted transcript;
- :class:`FixedReplyBrain` greets, then gives every turn the same reply;
- :class:`PresynthesizedTTS` plays audio made once per answer length.

Not to be confused with ``voxplane.testing.fakes``, which decode synthetic test tones to
drive pipeline unit tests in virtual time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import numpy as np

from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.providers.base import (
    STT,
    TTS,
    Brain,
    BrainCapabilities,
    BrainEvent,
    HangUp,
    SttCapabilities,
    SttHint,
    TextChunk,
    Transcript,
    TtsCapabilities,
)

SAMPLE_RATE = 16_000
_cache: dict[tuple[int, int], Pcm16] = {}


class FixedTranscriptSTT(STT):
    """Each utterance is transcribed as the next of ``transcripts``; the last repeats."""

    capabilities = SttCapabilities(streaming=False, hints=False)

    def __init__(self, transcripts: Sequence[str]) -> None:
        if not transcripts:
            raise ValueError("a scripted STT needs at least one transcript")
        self._transcripts = tuple(transcripts)
        self._next = 0

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        text = self._transcripts[min(self._next, len(self._transcripts) - 1)]
        self._next += 1
        return Transcript(text, 1000 * len(samples) / self.sample_rate)


class FixedReplyBrain(Brain):
    """Greets with ``greeting``; answers every turn with ``reply``."""

    capabilities = BrainCapabilities(streaming=False)

    def __init__(self, greeting: str, reply: str, hang_up_after: int | None = None) -> None:
        self._greeting = greeting
        self._reply = reply
        self._hang_up_after = hang_up_after
        self._replies = 0

    async def greet(self) -> AsyncIterator[BrainEvent]:
        yield TextChunk(self._greeting)

    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        self._replies += 1
        yield TextChunk(self._reply)
        if self._hang_up_after is not None and self._replies >= self._hang_up_after:
            yield HangUp()

    def stt_hint(self) -> SttHint | None:
        return None


class PresynthesizedTTS(TTS):
    """``ms_per_word`` of a voice-band signal per word, made once per length and reused."""

    capabilities = TtsCapabilities(streaming=False, sample_rate=SAMPLE_RATE)

    def __init__(self, ms_per_word: int) -> None:
        self._ms_per_word = ms_per_word

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        yield AudioFrame(_audio(self._ms_per_word, max(1, len(text.split()))), SAMPLE_RATE)


def _audio(ms_per_word: int, words: int) -> Pcm16:
    key = (ms_per_word, words)
    audio = _cache.get(key)
    if audio is None:
        # 300 Hz + 1.1 kHz with a 4 Hz syllable envelope: speech-like to a VAD and a codec.
        t = np.arange(SAMPLE_RATE * ms_per_word * words // 1000) / SAMPLE_RATE
        envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
        wave = np.sin(2 * np.pi * 300 * t) + 0.5 * np.sin(2 * np.pi * 1100 * t)
        audio = (wave * envelope * 0.2 * 32767).astype(np.int16)
        audio.flags.writeable = False
        _cache[key] = audio
    return audio
