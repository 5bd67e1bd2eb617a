"""Every call's stereo recording, taken in one place for every transport: the runtime
wraps the call's transport so that what the caller sent (left) and what the agent sent
(right) are laid on the call's clock as they pass, and streamed to the recording store.

Agent audio lands when the pipeline sends it; audio cleared before it played (barge-in)
is cut out, so the recording holds what the caller heard. A recording that cannot be
written (full disk) is given up with an error in the log; the call goes on.

The timeline runs at the line's own rate when both directions share it (8 kHz on a phone
call): frames are laid as they are, and each settled second is resampled to
:data:`RECORDING_RATE` in one stereo pass when it is written, not frame by frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import numpy as np
import soxr

from voxplane.media.frame import AudioFrame
from voxplane.media.resample import Resampler
from voxplane.media.stereo import AGENT, CALLER, StereoTimeline
from voxplane.store.recordings import RecordingWriter
from voxplane.transports.base import AudioSink, AudioSource, CallEvent, Transport

log = logging.getLogger(__name__)

RECORDING_RATE = 16_000
SETTLE_S = 1.0
"""Audio older than this no longer changes (a barge-in only cuts audio not yet played)."""
FLUSH_EVERY_S = 2.0
"""One thread hop per call per write: at 8 kHz stereo that is 64 KB every 2 s."""


class CallRecorder:
    """One call's recording: the timeline and where it is written."""

    def __init__(self, writer: RecordingWriter) -> None:
        self._writer = writer
        self._rate = RECORDING_RATE
        self._timeline = StereoTimeline()
        self._resamplers: list[Resampler | None] = [None, None]
        self._out: soxr.ResampleStream | None = None
        self._t0 = asyncio.get_running_loop().time()
        self.failed = False

    def line_rates(self, caller_rate: int, agent_rate: int) -> None:
        """The transport's rates, before any audio: when both directions share one rate
        under :data:`RECORDING_RATE`, the timeline runs at it (see the module docstring)."""
        if caller_rate == agent_rate < RECORDING_RATE and self._timeline.base == 0:
            self._rate = caller_rate
            self._timeline = StereoTimeline(initial_capacity=2 * caller_rate)
            self._out = soxr.ResampleStream(caller_rate, RECORDING_RATE, 2, "int16", "LQ")

    def _at(self, now: float) -> int:
        return round((now - self._t0) * self._rate)

    def add(self, channel: int, frame: AudioFrame, ended_at: float) -> None:
        """Audio of ``channel`` that finished arriving (or being sent) at ``ended_at``."""
        samples = frame.samples
        if frame.sample_rate != self._rate:
            resampler = self._resamplers[channel]
            if resampler is None or resampler.in_rate != frame.sample_rate:
                resampler = Resampler(frame.sample_rate, self._rate, "LQ")
                self._resamplers[channel] = resampler
            samples = resampler.process(samples)
        self._timeline.put(channel, samples, self._at(ended_at) - len(samples))

    def cut_agent(self, now: float) -> None:
        self._timeline.truncate(AGENT, self._at(now))

    async def flush(self) -> None:
        """Write what has settled."""
        now = asyncio.get_running_loop().time()
        await self._write(self._timeline.take(self._at(now - SETTLE_S)))

    async def flush_forever(self) -> None:
        while not self.failed:
            await asyncio.sleep(FLUSH_EVERY_S)
            await self.flush()

    async def close(self) -> bool:
        """Write the rest and commit; whether the recording was kept."""
        await self._write(self._timeline.finish(), last=True)
        try:
            if self.failed:
                await self._writer.abort()
                return False
            await self._writer.commit()
            return True
        except OSError as error:
            log.error("call recording not kept", extra={"error": str(error)})
            return False

    async def _write(self, pcm: bytes, last: bool = False) -> None:
        if self.failed:
            return
        if self._out is not None:
            stereo = np.frombuffer(pcm, np.int16).reshape(-1, 2)
            pcm = self._out.resample_chunk(stereo, last=last).tobytes()
        try:
            await self._writer.write(pcm)
        except OSError as error:
            log.error("call recording failed", extra={"error": str(error)})
            self.failed = True


class RecordedTransport(Transport):
    """A transport whose audio both ways also goes to a :class:`CallRecorder`."""

    def __init__(self, inner: Transport, recorder: CallRecorder) -> None:
        self.info = inner.info
        self.inner = inner
        self.keys_in_band = inner.keys_in_band
        recorder.line_rates(inner.source.sample_rate, inner.sink.sample_rate)
        self.source = _TapSource(inner.source, recorder)
        self.sink = _TapSink(inner.sink, recorder)

    def events(self) -> AsyncIterator[CallEvent]:
        return self.inner.events()

    async def hang_up(self) -> None:
        await self.inner.hang_up()

    async def transfer(self, target: str) -> None:
        await self.inner.transfer(target)

    async def send_dtmf(self, keys: str) -> None:
        await self.inner.send_dtmf(keys)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _TapSource(AudioSource):
    def __init__(self, inner: AudioSource, recorder: CallRecorder) -> None:
        self.sample_rate = inner.sample_rate
        self._inner = inner
        self._recorder = recorder

    async def frames(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        async for frame in self._inner.frames():
            self._recorder.add(CALLER, frame, loop.time())
            yield frame


class _TapSink(AudioSink):
    def __init__(self, inner: AudioSink, recorder: CallRecorder) -> None:
        self.sample_rate = inner.sample_rate
        self.lead_ms = inner.lead_ms
        self._inner = inner
        self._recorder = recorder
        self._plays_until = 0.0

    async def send(self, frame: AudioFrame) -> None:
        await self._inner.send(frame)
        # The line plays frames back to back: this one after the last, or from now if the
        # line had run dry (the sink may be sent a few frames ahead, see ``lead_ms``).
        now = asyncio.get_running_loop().time()
        self._plays_until = max(now, self._plays_until) + frame.duration_ms / 1000
        self._recorder.add(AGENT, frame, self._plays_until)

    async def clear(self) -> None:
        await self._inner.clear()
        now = asyncio.get_running_loop().time()
        self._recorder.cut_agent(now)
        self._plays_until = now

    def buffered_ms(self) -> float:
        return self._inner.buffered_ms()

    async def wait_for_playout(self) -> None:
        await self._inner.wait_for_playout()
