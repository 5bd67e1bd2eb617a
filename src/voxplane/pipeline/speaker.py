"""Speak one answer: brain events → sentences → TTS → 20 ms pacer → sink."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np

from voxplane.errors import VoxplaneError
from voxplane.media.dtmf import dtmf_tones
from voxplane.media.frame import AudioFrame, Pcm16, samples_per_frame
from voxplane.media.resample import Resampler
from voxplane.observability import metrics
from voxplane.pipeline.chunker import SentenceChunker
from voxplane.pipeline.playout import PlayoutTracker
from voxplane.pipeline.records import TurnMetrics
from voxplane.providers.base import TTS, BrainEvent, HangUp, SendDtmf, TextChunk, Transfer
from voxplane.providers.retry import DEFAULT_RETRY, RetryPolicy
from voxplane.providers.streams import closing
from voxplane.transports.base import AudioSink

log = logging.getLogger(__name__)

AUDIO_QUEUE_CHUNKS = 8
"""TTS chunks (about a sentence each) synthesized ahead of playout."""

PLAYOUT_MARGIN_S = 1.0
"""How long past the buffered audio's own length a playout confirmation may take."""

UNDERRUN_RESET_S = 0.06
"""Behind the cadence by more than this (or than the sink's lead, if longer), the sink has
run dry: the cadence re-anchors (and fills the lead again) instead of bursting frames the
line has already skipped."""


@dataclass(slots=True)
class SpeechTimes:
    """Loop times of one answer's first and last frame."""

    first_frame: float | None = None
    last_frame: float | None = None


@dataclass(frozen=True, slots=True)
class _Keys:
    """Keys the brain pressed, in their place among the answer's audio: ``tones`` are
    their in-band DTMF, or None when the transport presses them out of band."""

    keys: str
    tones: Pcm16 | None


Softening = Literal["pause", "duck"]
FailedPart = Literal["brain", "tts"]


class Speaker:
    """Plays one answer. Cancel the task running :meth:`speak` to interrupt it.

    Synthesis of the next sentence overlaps playout of the current one; the sink gets one
    20 ms frame per 20 ms of loop time, :attr:`AudioSink.lead_ms` ahead of it.
    :meth:`soften` pauses playout (or lowers its level) while the caller talks over the
    answer, :meth:`restore` goes on.
    """

    def __init__(
        self,
        tts: TTS,
        sink: AudioSink,
        metrics: TurnMetrics | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        send_dtmf: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """``send_dtmf`` presses keys on the line (the transport's, out of band); without
        it the brain's :class:`SendDtmf` keys are played as DTMF tones among the audio
        (in band, as on a line that carries only audio)."""
        self._tts = tts
        self._send_dtmf = send_dtmf
        self._sink = sink
        self._metrics = metrics
        self._retry = retry
        self._tracker = PlayoutTracker()
        self._frames_sent = 0
        self._frame_len = samples_per_frame(sink.sample_rate)
        self._sample_ms = 1000 / sink.sample_rate
        self._lead_s = sink.lead_ms / 1000
        self._reset_s = max(UNDERRUN_RESET_S, self._lead_s)
        self._playing = asyncio.Event()
        self._playing.set()
        self._gain = 1.0
        self.times = SpeechTimes()
        self.action: HangUp | Transfer | None = None
        self.characters = 0
        self.failed: FailedPart | None = None
        """The provider whose error cut the answer short, if one did."""
        self.keys_sent = ""

    @property
    def softened(self) -> bool:
        return not self._playing.is_set() or self._gain < 1.0

    def soften(self, how: Softening, duck_db: float) -> None:
        """Pause playout (the answer goes on from the same word on :meth:`restore`), or
        play on ``duck_db`` lower. Audio the sink already holds plays out as it was."""
        if how == "pause":
            self._playing.clear()
        else:
            self._gain = 10 ** (min(duck_db, 0.0) / 20)

    def restore(self) -> None:
        """Play on at full level after :meth:`soften`."""
        self._gain = 1.0
        self._playing.set()

    @property
    def sent_ms(self) -> float:
        return 20.0 * self._frames_sent

    def heard(self, buffered_ms: float = 0.0) -> str:
        """What the caller heard, given how much sent audio is still buffered downstream.

        Resampled to the sink's rate, the TTS's audio is rounded to a whole sample: the
        frames sent may come to under a sample less than its own length, and that is no
        word unheard."""
        return self._tracker.heard(self.sent_ms + self._sample_ms - buffered_ms)

    async def speak(self, events: AsyncIterator[BrainEvent]) -> None:
        """Run the answer to its end, including the sink playing out its buffer.

        The first audio is made in this task and its first frame sent at once; only then
        does synthesis go on in a task of its own, ahead of playout: on a busy event loop
        each task switch before the first frame costs the caller a turn of the loop."""
        queue: asyncio.Queue[AudioFrame | _Keys | None] = asyncio.Queue(AUDIO_QUEUE_CHUNKS)
        synthesis = self._synthesize(events)
        async with closing(synthesis):
            first = await anext(synthesis, None)
            queue.put_nowait(first)
            async with asyncio.TaskGroup() as group:
                if first is not None:
                    group.create_task(self._feed(synthesis, queue))
                await self._play(queue)
        await self._wait_for_playout()

    async def _wait_for_playout(self) -> None:
        """Until the caller has heard it all; a peer that never confirms cannot stall us."""
        bound = self._sink.buffered_ms() / 1000 + PLAYOUT_MARGIN_S
        try:
            async with asyncio.timeout(bound):
                await self._sink.wait_for_playout()
        except TimeoutError:
            log.warning("playout not confirmed in time", extra={"waited_s": round(bound, 2)})

    async def _feed(
        self,
        synthesis: AsyncIterator[AudioFrame | _Keys],
        queue: asyncio.Queue[AudioFrame | _Keys | None],
    ) -> None:
        async for item in synthesis:
            await queue.put(item)
        await queue.put(None)

    async def _synthesize(
        self, events: AsyncIterator[BrainEvent]
    ) -> AsyncIterator[AudioFrame | _Keys]:
        """The answer's audio, sentence by sentence, and its keys, in order; a provider
        error ends it (what was made before it still plays)."""
        chunker = SentenceChunker()
        loop = asyncio.get_running_loop()
        part: FailedPart = "brain"
        try:
            async for event in events:
                sentences: list[str] = []
                match event:
                    case TextChunk(text):
                        if self._metrics and self._metrics.brain_first_text is None:
                            self._metrics.brain_first_text = loop.time()
                        sentences = chunker.push(text)
                    case HangUp() | Transfer():
                        self.action = event
                    case SendDtmf():
                        # Keys go after the words before them: say what is pending, then
                        # hand the keys to playout, in order.
                        sentences = chunker.flush()
                if sentences:
                    part = "tts"
                    async with closing(self._say(sentences)) as audio:  # closed at a barge-in
                        async for chunk in audio:
                            yield chunk
                    part = "brain"
                if isinstance(event, SendDtmf):
                    tones = None
                    if self._send_dtmf is None:  # played as tones: they take playout time
                        rate = self._sink.sample_rate
                        tones = dtmf_tones(event.keys, rate)
                        self._tracker.add_sound(1000 * len(tones) / rate)
                    yield _Keys(event.keys, tones)
            part = "tts"
            async with closing(self._say(chunker.flush())) as audio:
                async for chunk in audio:
                    yield chunk
        except VoxplaneError as error:
            # The brain or TTS failed: play what is already synthesized rather than cut it
            # off mid-word, and drop the unfinished sentence.
            log.warning(
                "answer cut short by a provider error", extra={"error": str(error), "part": part}
            )
            metrics.PROVIDER_ERRORS.labels(part).inc()
            self.failed = part

    async def _say(self, sentences: list[str]) -> AsyncIterator[AudioFrame]:
        for sentence in sentences:
            self._tracker.add_sentence(sentence)
            self.characters += len(sentence)
            speech = self._retry.stream("text to speech", partial(self._tts.synthesize, sentence))
            async with closing(speech):  # a barge-in stops the synthesis at once
                async for chunk in speech:
                    if self._metrics and self._metrics.tts_first_audio is None:
                        self._metrics.tts_first_audio = asyncio.get_running_loop().time()
                    self._tracker.add_audio(chunk.duration_ms)
                    yield chunk

    async def _play(self, queue: asyncio.Queue[AudioFrame | _Keys | None]) -> None:
        resampler: Resampler | None = None
        pending: Pcm16 = np.zeros(0, dtype=np.int16)
        deadline: float | None = None
        while (chunk := await queue.get()) is not None:
            if isinstance(chunk, _Keys):
                if resampler is not None:
                    pending = np.concatenate([pending, resampler.flush()])
                    resampler = None
                deadline = await self._drain(pending, deadline)
                pending = pending[:0]
                deadline = await self._press(chunk, deadline)
                continue
            if resampler is None:
                resampler = Resampler(chunk.sample_rate, self._sink.sample_rate)
            pending = np.concatenate([pending, resampler.process(chunk.samples)])
            while len(pending) >= self._frame_len:
                deadline = await self._send(pending[: self._frame_len], deadline)
                pending = pending[self._frame_len :]
        if resampler is not None:
            pending = np.concatenate([pending, resampler.flush()])
        await self._drain(pending, deadline)

    async def _drain(self, pending: Pcm16, deadline: float | None) -> float | None:
        """Send what is left, the last frame padded with silence."""
        while len(pending):
            frame = np.zeros(self._frame_len, dtype=np.int16)
            head, pending = pending[: self._frame_len], pending[self._frame_len :]
            frame[: len(head)] = head
            deadline = await self._send(frame, deadline)
        return deadline

    async def _press(self, keys: _Keys, deadline: float | None) -> float | None:
        """Keys on the line after the words before them: played as tones right after
        them, or sent out of band once those have been heard."""
        if keys.tones is not None:
            deadline = await self._drain(keys.tones, deadline)
        else:
            await self._wait_for_playout()
            assert self._send_dtmf is not None  # tones are made whenever it is None
            await self._send_dtmf(keys.keys)
        self.keys_sent += keys.keys
        return deadline

    async def _send(self, samples: Pcm16, deadline: float | None) -> float:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if deadline is None or now - deadline > self._reset_s:
            deadline = now - self._lead_s
        elif deadline > now:
            await asyncio.sleep(deadline - now)
        if not self._playing.is_set():
            await self._playing.wait()
            deadline = loop.time() - self._lead_s  # paused: the sink drained, fill it again
        if self._gain < 1.0:
            samples = (samples * self._gain).astype(np.int16)
        await self._sink.send(AudioFrame(samples, self._sink.sample_rate))
        sent_at = loop.time()
        self._frames_sent += 1
        if self.times.first_frame is None:
            self.times.first_frame = sent_at
            if self._metrics:
                self._metrics.first_frame_out = sent_at
        self.times.last_frame = sent_at
        return deadline + 0.02
