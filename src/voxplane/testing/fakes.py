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
    StreamingSTT,
    SttCapabilities,
    SttHint,
    SttResult,
    SttStream,
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


_WINDOW = 320  # 20 ms at 16 kHz


def _utterances(samples: Pcm16) -> list[Pcm16]:
    """The stretches of tone in ``samples``: apart by 200 ms or more, 100 ms or longer (a
    sliver of the previous utterance in the pre-roll is not one)."""
    count = len(samples) // _WINDOW
    loud = np.abs(samples[: count * _WINDOW].astype(np.int32)).reshape(count, _WINDOW).max(1)
    windows = np.flatnonzero(loud > 300)
    if len(windows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(windows) > 10) + 1
    runs = np.split(windows, breaks)
    return [samples[r[0] * _WINDOW : (r[-1] + 1) * _WINDOW] for r in runs if len(r) >= 5]


def _utterance_index(samples: Pcm16, sample_rate: int) -> int | None:
    if len(samples) == 0 or np.abs(samples.astype(np.int32)).max() < 300:
        return None
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    peak_hz = float(np.argmax(spectrum)) * sample_rate / len(samples)
    return round((peak_hz - _BASE_HZ) / _STEP_HZ)


class ScriptedSTT(STT):
    """Transcribes :func:`caller_speech` utterance ``i`` as ``transcripts[i]``; audio
    holding several different utterances gives their transcripts in order.

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
        self._known = range(len(self._transcripts))
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
        return Transcript(self.hear(samples), audio_ms)

    def hear(self, samples: Pcm16) -> str:
        """The scripted transcripts of the utterances in ``samples``, at once."""
        said: list[int] = []  # the same utterance again after a gap is one utterance
        for part in _utterances(samples):
            index = _utterance_index(part, self.sample_rate)
            if index is not None and index in self._known and index not in said[-1:]:
                said.append(index)
        return " ".join(self._transcripts[i] for i in said)

    def _occupy_worker(self) -> asyncio.Task[None]:
        self._in_flight += 1

        async def work() -> None:
            try:
                await asyncio.sleep(self._delay)
            finally:
                self._in_flight -= 1

        return asyncio.ensure_future(work())


class ScriptedStreamingSTT(StreamingSTT):
    """A streaming recognizer that hears :func:`caller_speech` tones as they are pushed.

    Every ``interim_ms`` of one utterance's tone it publishes an interim result (the
    transcript of what it has heard so far); :meth:`SttStream.flush` answers with the final
    transcript after ``delay_s``. Flushed spans are recorded in :attr:`flushes`.
    """

    capabilities = SttCapabilities(streaming=True, hints=False)

    def __init__(
        self, transcripts: Sequence[str], *, interim_ms: int = 300, delay_s: float = 0.05
    ) -> None:
        self.decoder = ScriptedSTT(transcripts)
        self.interim_ms = interim_ms
        self.delay_s = delay_s
        self.flushes: list[tuple[float, float]] = []

    def open(self, hint: Callable[[], SttHint | None]) -> SttStream:
        return _ScriptedSttStream(self)


class SilentSttStream(SttStream):
    """Transcribes nothing and notes the turns flushed to it, as (start_ms, end_ms): for
    tests and benches of turn-taking alone."""

    def __init__(self) -> None:
        self.flushed: list[tuple[float, float]] = []

    def push(self, samples: Pcm16) -> None:
        pass

    async def flush(self, start_ms: float, end_ms: float) -> SttResult:
        self.flushed.append((start_ms, end_ms))
        return SttResult("", True, start_ms, end_ms)

    async def results(self) -> AsyncIterator[SttResult]:
        return
        yield

    async def end(self) -> None:
        pass


class _ScriptedSttStream(SttStream):
    def __init__(self, owner: ScriptedStreamingSTT) -> None:
        self._owner = owner
        self._audio = np.zeros(0, np.int16)
        self._run_start: float | None = None  # where the tone being heard began, in ms
        self._run_ms = 0
        self._quiet_ms = 0
        self._results: asyncio.Queue[SttResult | None] = asyncio.Queue()
        self._audio_ms = 0.0

    @property
    def audio_ms(self) -> float:
        return self._audio_ms

    def push(self, samples: Pcm16) -> None:
        start = len(self._audio)
        self._audio = np.concatenate([self._audio, samples])
        for at in range(start - start % _WINDOW, len(self._audio) - _WINDOW + 1, _WINDOW):
            if at < start:
                continue
            now_ms = (at + _WINDOW) / 16
            if np.abs(self._audio[at : at + _WINDOW].astype(np.int32)).max() > 300:
                self._quiet_ms = 0
                if self._run_start is None:
                    self._run_start, self._run_ms = at / 16, 0
                self._run_ms += 20
                if self._run_ms % self._owner.interim_ms == 0:
                    heard = self._owner.decoder.hear(self._audio[int(self._run_start * 16) :])
                    self._results.put_nowait(SttResult(heard, False, self._run_start, now_ms))
            else:
                self._quiet_ms += 20
                if self._quiet_ms >= 200:
                    self._run_start = None

    async def flush(self, start_ms: float, end_ms: float) -> SttResult:
        self._owner.flushes.append((start_ms, end_ms))
        await asyncio.sleep(self._owner.delay_s)
        audio = self._audio[max(0, int((start_ms - 300) * 16)) : int((end_ms + 150) * 16)]
        self._audio_ms += len(audio) / 16
        result = SttResult(self._owner.decoder.hear(audio), True, start_ms, end_ms, len(audio) / 16)
        self._results.put_nowait(result)
        return result

    async def results(self) -> AsyncIterator[SttResult]:
        while (result := await self._results.get()) is not None:
            yield result

    async def end(self) -> None:
        self._results.put_nowait(None)


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
