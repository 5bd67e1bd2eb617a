"""Scripted fakes of every provider, for deterministic pipeline tests and benchmarks.

They run entirely on the event loop (no threads), so under
:func:`voxplane.testing.clock.run_virtual` a whole call runs in virtual time. Audio is
synthetic: a tone is "speech", zeros are silence, and :class:`ToneVad` tells them apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import numpy as np

from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.media.vad import Vad
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


def tone(ms: int, sample_rate: int = 16_000, hz: float = 220.0, level: float = 0.3) -> Pcm16:
    """A sine tone standing in for speech."""
    t = np.arange(sample_rate * ms // 1000) / sample_rate
    return (np.sin(2 * np.pi * hz * t) * level * 32767).astype(np.int16)


def silence(ms: int, sample_rate: int = 16_000) -> Pcm16:
    return np.zeros(sample_rate * ms // 1000, dtype=np.int16)


class ToneVad(Vad):
    """Speech probability 1.0 for any 20 ms window with signal in it, else 0.0."""

    window_samples = 320

    def _score(self, window: Pcm16) -> float:
        return 1.0 if np.abs(window.astype(np.int32)).max() > 300 else 0.0

    def _reset_state(self) -> None:
        pass


def caller_speech(index: int, ms: int, sample_rate: int = 16_000) -> Pcm16:
    """Synthetic caller utterance number ``index``: a tone whose pitch encodes the index,
    so :class:`ScriptedSTT` knows which scripted transcript it is hearing."""
    return tone(ms, sample_rate, hz=_BASE_HZ + _STEP_HZ * index)


_BASE_HZ, _STEP_HZ = 300.0, 100.0


def _utterance_index(samples: Pcm16, sample_rate: int) -> int | None:
    if len(samples) == 0 or np.abs(samples.astype(np.int32)).max() < 300:
        return None
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    peak_hz = float(np.argmax(spectrum)) * sample_rate / len(samples)
    return round((peak_hz - _BASE_HZ) / _STEP_HZ)


class ScriptedSTT(STT):
    """Transcribes :func:`caller_speech` utterance ``i`` as ``transcripts[i]``.

    Answers after ``delay_s`` of (virtual) time. Records each call's audio length and hint
    in :attr:`calls`, speculative ones included. With ``workers``, it behaves like a local
    model on a thread pool: at most that many requests run at once, and a request keeps its
    worker busy for the whole ``delay_s`` even when its caller stops waiting.
    """

    capabilities = SttCapabilities(streaming=False, hints=True)

    def __init__(
        self, transcripts: Sequence[str], delay_s: float = 0.1, workers: int | None = None
    ) -> None:
        self._transcripts = list(transcripts)
        self._delay = delay_s
        self._workers = workers
        self._in_flight = 0
        self.calls: list[tuple[float, SttHint | None]] = []

    def can_start_now(self) -> bool:
        return self._workers is None or self._in_flight < self._workers

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        audio_ms = 1000 * len(samples) / self.sample_rate
        self.calls.append((audio_ms, hint))
        if self._workers is None:
            await asyncio.sleep(self._delay)
        else:
            await asyncio.shield(self._occupy_worker())
        index = _utterance_index(samples, self.sample_rate)
        if index is None or not 0 <= index < len(self._transcripts):
            return Transcript("", audio_ms)
        return Transcript(self._transcripts[index], audio_ms)

    def _occupy_worker(self) -> asyncio.Task[None]:
        self._in_flight += 1

        async def work() -> None:
            try:
                await asyncio.sleep(self._delay)
            finally:
                self._in_flight -= 1

        return asyncio.ensure_future(work())


class ScriptedBrain(Brain):
    """Greets, then answers each caller turn with the next scripted reply.

    A reply is a string, or a callable of the caller's text. ``hang_up_after`` ends the
    call after that many replies. Interruptions are recorded in :attr:`heard_on_interrupt`.
    """

    capabilities = BrainCapabilities(streaming=True)

    def __init__(
        self,
        greeting: str,
        replies: Sequence[str | Callable[[str], str]] = (),
        *,
        hang_up_after: int | None = None,
        hint: SttHint | None = None,
        delay_s: float = 0.01,
    ) -> None:
        self._greeting = greeting
        self._replies = list(replies)
        self._hang_up_after = hang_up_after
        self._hint = hint
        self._delay = delay_s
        self.heard_on_interrupt: list[str] = []
        self.received: list[str] = []
        self.rolled_back: list[list[str]] = []

    async def greet(self) -> AsyncIterator[BrainEvent]:
        await asyncio.sleep(self._delay)
        yield TextChunk(self._greeting)

    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        self.received.append(user_text)
        await asyncio.sleep(self._delay)
        index = len(self.received) - 1
        reply = self._replies[index] if index < len(self._replies) else "Okay."
        text = reply(user_text) if callable(reply) else reply
        for word in text.split(" "):  # stream word by word, as an LLM would
            yield TextChunk(word + " ")
        if self._hang_up_after is not None and len(self.received) >= self._hang_up_after:
            yield HangUp()

    def stt_hint(self) -> SttHint | None:
        return self._hint

    def on_interrupted(self, heard_text: str) -> None:
        self.heard_on_interrupt.append(heard_text)

    def checkpoint(self) -> int:
        return len(self.received)

    def rollback(self, checkpoint: object) -> None:
        assert isinstance(checkpoint, int)
        self.rolled_back.append(self.received[checkpoint:])
        del self.received[checkpoint:]


class ScriptedTTS(TTS):
    """Speaks ``ms_per_word`` of tone per word, after ``first_audio_s`` of latency."""

    def __init__(
        self, ms_per_word: int = 300, first_audio_s: float = 0.05, sample_rate: int = 16_000
    ) -> None:
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=sample_rate)
        self._ms_per_word = ms_per_word
        self._latency = first_audio_s
        self.spoken: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        self.spoken.append(text)
        await asyncio.sleep(self._latency)
        ms = self._ms_per_word * len(text.split())
        rate = self.capabilities.sample_rate
        yield AudioFrame(tone(ms, rate, hz=2000.0), rate)
