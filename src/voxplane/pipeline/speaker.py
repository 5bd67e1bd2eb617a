"""Speak one answer: brain events → sentences → TTS → 20 ms pacer → sink."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from voxplane.errors import VoxplaneError
from voxplane.media.frame import AudioFrame, Pcm16, samples_per_frame
from voxplane.media.resample import Resampler
from voxplane.pipeline.chunker import SentenceChunker
from voxplane.pipeline.playout import PlayoutTracker
from voxplane.pipeline.records import TurnMetrics
from voxplane.providers.base import TTS, BrainEvent, HangUp, TextChunk, Transfer
from voxplane.transports.base import AudioSink

log = logging.getLogger(__name__)

AUDIO_QUEUE_CHUNKS = 8
"""TTS chunks (about a sentence each) synthesized ahead of playout."""

UNDERRUN_RESET_S = 0.06
"""When TTS falls this far behind the 20 ms cadence, the pacer re-anchors instead of
bursting frames to catch up."""


@dataclass(slots=True)
class SpeechTimes:
    """Loop times of one answer's first and last frame."""

    first_frame: float | None = None
    last_frame: float | None = None


class Speaker:
    """Plays one answer. Cancel the task running :meth:`speak` to interrupt it.

    Synthesis of the next sentence overlaps playout of the current one; the sink gets
    exactly one 20 ms frame per 20 ms of loop time.
    """

    def __init__(self, tts: TTS, sink: AudioSink, metrics: TurnMetrics | None = None) -> None:
        self._tts = tts
        self._sink = sink
        self._metrics = metrics
        self._tracker = PlayoutTracker()
        self._frames_sent = 0
        self._frame_len = samples_per_frame(sink.sample_rate)
        self.times = SpeechTimes()
        self.action: HangUp | Transfer | None = None
        self.characters = 0

    @property
    def sent_ms(self) -> float:
        return 20.0 * self._frames_sent

    def heard(self, buffered_ms: float = 0.0) -> str:
        """What the caller heard, given how much sent audio is still buffered downstream."""
        return self._tracker.heard(self.sent_ms - buffered_ms)

    async def speak(self, events: AsyncIterator[BrainEvent]) -> None:
        """Run the answer to its end, including the sink playing out its buffer."""
        queue: asyncio.Queue[AudioFrame | None] = asyncio.Queue(AUDIO_QUEUE_CHUNKS)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._synthesize(events, queue))
            await self._play(queue)
        while self._sink.buffered_ms() > 0:  # noqa: ASYNC110 - sinks expose a level, not an event
            await asyncio.sleep(0.02)

    async def _synthesize(
        self, events: AsyncIterator[BrainEvent], queue: asyncio.Queue[AudioFrame | None]
    ) -> None:
        chunker = SentenceChunker()
        loop = asyncio.get_running_loop()
        try:
            async for event in events:
                match event:
                    case TextChunk(text):
                        if self._metrics and self._metrics.brain_first_text is None:
                            self._metrics.brain_first_text = loop.time()
                        for sentence in chunker.push(text):
                            await self._say(sentence, queue)
                    case HangUp() | Transfer():
                        self.action = event
            for sentence in chunker.flush():
                await self._say(sentence, queue)
        except VoxplaneError as error:
            # The brain or TTS failed: play what is already synthesized rather than cut it
            # off mid-word, and drop the unfinished sentence.
            log.warning("answer cut short by a provider error", extra={"error": str(error)})
        await queue.put(None)

    async def _say(self, sentence: str, queue: asyncio.Queue[AudioFrame | None]) -> None:
        self._tracker.add_sentence(sentence)
        self.characters += len(sentence)
        async for chunk in self._tts.synthesize(sentence):
            if self._metrics and self._metrics.tts_first_audio is None:
                self._metrics.tts_first_audio = asyncio.get_running_loop().time()
            self._tracker.add_audio(chunk.duration_ms)
            await queue.put(chunk)

    async def _play(self, queue: asyncio.Queue[AudioFrame | None]) -> None:
        resampler: Resampler | None = None
        pending: Pcm16 = np.zeros(0, dtype=np.int16)
        deadline: float | None = None
        while (chunk := await queue.get()) is not None:
            if resampler is None:
                resampler = Resampler(chunk.sample_rate, self._sink.sample_rate)
            pending = np.concatenate([pending, resampler.process(chunk.samples)])
            while len(pending) >= self._frame_len:
                deadline = await self._send(pending[: self._frame_len], deadline)
                pending = pending[self._frame_len :]
        if resampler is not None:
            pending = np.concatenate([pending, resampler.flush()])
        while len(pending):
            frame = np.zeros(self._frame_len, dtype=np.int16)
            head, pending = pending[: self._frame_len], pending[self._frame_len :]
            frame[: len(head)] = head
            deadline = await self._send(frame, deadline)

    async def _send(self, samples: Pcm16, deadline: float | None) -> float:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if deadline is None or now - deadline > UNDERRUN_RESET_S:
            deadline = now
        elif deadline > now:
            await asyncio.sleep(deadline - now)
        await self._sink.send(AudioFrame(samples, self._sink.sample_rate))
        sent_at = loop.time()
        self._frames_sent += 1
        if self.times.first_frame is None:
            self.times.first_frame = sent_at
            if self._metrics:
                self._metrics.first_frame_out = sent_at
        self.times.last_frame = sent_at
        return deadline + 0.02
