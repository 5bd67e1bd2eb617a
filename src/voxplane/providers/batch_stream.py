"""A batch :class:`~voxplane.providers.base.STT` (Whisper) behind the streaming contract.

A batch recognizer hears a whole utterance at once, so this adapter keeps the call's recent
audio (:class:`~voxplane.media.history.AudioHistory`) and transcribes the slice of a turn,
with :data:`PREROLL_MS` before it and :data:`TAIL_MS` after it. It also owns speculation:

- when the caller pauses (:meth:`BatchSttStream.speech_paused`), the utterance so far is
  transcribed at once if the recognizer is idle (``STT.can_start_now()``), or as soon as a
  worker frees up while the caller is still quiet: a local model cannot drop an inference
  it has started, so a guess never queues in front of real work;
- when the caller resumes, the guess is cancelled;
- when the turn is flushed over the same span, the guess is the final result (and was
  already published on :meth:`~BatchSttStream.results` as an interim one).

Failed requests go through the one retry policy (:mod:`voxplane.providers.retry`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable

from voxplane.media.frame import Pcm16
from voxplane.media.history import AudioHistory
from voxplane.providers.base import STT, StreamingSTT, SttHint, SttResult, SttStream
from voxplane.providers.retry import DEFAULT_RETRY, RetryPolicy
from voxplane.providers.streams import end_results

log = logging.getLogger(__name__)

PREROLL_MS = 300
"""Caller audio kept before the detected start of speech: Whisper misses words without it."""
TAIL_MS = 150
"""Audio kept after the detected end of speech (the VAD releases a little early)."""
RESULTS_QUEUE = 16
"""Results not yet read from :meth:`BatchSttStream.results`; beyond it the oldest go."""

Hint = Callable[[], SttHint | None]


class BatchStreamingSTT(StreamingSTT):
    """Streams on a batch ``stt``; ``history_ms`` of caller audio is kept per call."""

    def __init__(
        self,
        stt: STT,
        *,
        history_ms: int,
        speculative: bool = True,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.stt = stt
        self.capabilities = stt.capabilities
        self._history_ms = history_ms
        self._speculative = speculative
        self._retry = retry

    def open(self, hint: Hint) -> BatchSttStream:
        return BatchSttStream(self.stt, hint, self._history_ms, self._speculative, self._retry)


class BatchSttStream(SttStream):
    """One call's stream on a batch recognizer (see the module's description)."""

    def __init__(
        self, stt: STT, hint: Hint, history_ms: int, speculative: bool, retry: RetryPolicy
    ) -> None:
        self._stt = stt
        self._hint = hint
        self._retry = retry
        self._speculative = speculative
        self._history = AudioHistory(history_ms)
        # (start, end) of the audio a speculative transcription covers, and its task
        self._speculation: tuple[float, float, asyncio.Task[SttResult]] | None = None
        self._guess: tuple[float, float] | None = None  # waiting for an idle recognizer
        self._tasks: set[asyncio.Task[SttResult]] = set()
        self._results: asyncio.Queue[SttResult | None] = asyncio.Queue(RESULTS_QUEUE)
        self._audio_ms = 0.0
        self._ended = False

    @property
    def audio_ms(self) -> float:
        return self._audio_ms

    def push(self, samples: Pcm16) -> None:
        self._history.append(samples)
        self._speculate()

    def speech_paused(self, start_ms: float, end_ms: float) -> None:
        self._cancel_speculation()
        if self._speculative:
            self._guess = (start_ms, end_ms)
            self._speculate()

    def speech_resumed(self) -> None:
        self._cancel_speculation()

    async def flush(self, start_ms: float, end_ms: float) -> SttResult:
        if self._speculation is not None and self._speculation[:2] == (start_ms, end_ms):
            task = self._speculation[2]
            self._speculation = None
            speculative = True
        else:
            self._cancel_speculation()
            task = self._recognize(start_ms, end_ms)
            speculative = False
        result = await task
        final = dataclasses.replace(result, final=True, speculative=speculative)
        self._publish(final)
        return final

    async def results(self) -> AsyncIterator[SttResult]:
        while (result := await self._results.get()) is not None:
            yield result

    async def end(self) -> None:
        self._ended = True
        self._cancel_speculation()
        await end_results(self._tasks, self._results)

    def _speculate(self) -> None:
        """Start the guess the caller's pause asked for, once the recognizer is idle."""
        if self._guess is not None and self._stt.can_start_now():
            start_ms, end_ms = self._guess
            self._guess = None
            task = self._recognize(start_ms, end_ms)
            task.add_done_callback(self._publish_guess)
            self._speculation = (start_ms, end_ms, task)

    def _cancel_speculation(self) -> None:
        self._guess = None
        if self._speculation is not None:
            self._speculation[2].cancel()
            self._speculation = None

    def _recognize(self, start_ms: float, end_ms: float) -> asyncio.Task[SttResult]:
        audio = self._history.slice(start_ms - PREROLL_MS, end_ms + TAIL_MS)
        hint = self._hint()

        async def recognize() -> SttResult:
            transcript = await self._retry.call(
                "speech to text", lambda: self._stt.recognize(audio, hint)
            )
            self._audio_ms += transcript.audio_ms
            ready_at = asyncio.get_running_loop().time()
            return SttResult(
                transcript.text, False, start_ms, end_ms, transcript.audio_ms, ready_at=ready_at
            )

        task = asyncio.get_running_loop().create_task(recognize())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _publish_guess(self, task: asyncio.Task[SttResult]) -> None:
        if task.cancelled() or task.exception() is not None:
            return  # an error is raised, once, by the flush that uses this guess (if any)
        self._publish(task.result())

    def _publish(self, result: SttResult) -> None:
        if self._ended:
            return
        if self._results.full():
            self._results.get_nowait()  # nobody is reading: keep the newest
        self._results.put_nowait(result)
