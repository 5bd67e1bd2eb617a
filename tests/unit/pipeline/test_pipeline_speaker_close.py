"""An answer cut off (a barge-in cancels the speaker) closes the sentence's TTS stream at
once: a cloud TTS stops generating (and cancels its context) then, not whenever the
stream is garbage collected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from voxplane.media.frame import AudioFrame
from voxplane.pipeline.speaker import Speaker
from voxplane.providers.base import TTS, BrainEvent, TextChunk, TtsCapabilities
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import tone
from voxplane.transports.base import AudioSink


class NullSink(AudioSink):
    sample_rate = 16_000

    async def send(self, frame: AudioFrame) -> None:
        pass

    async def clear(self) -> None:
        pass

    def buffered_ms(self) -> float:
        return 0.0

    async def wait_for_playout(self) -> None:
        pass


class LongTTS(TTS):
    """Ten seconds of audio per text, in 20 ms chunks, far ahead of playout; notes which
    streams were closed."""

    def __init__(self) -> None:
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=16_000)
        self.closed: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        try:
            for _ in range(500):
                yield AudioFrame(tone(20), 16_000)
        finally:
            self.closed.append(text)


async def answer() -> AsyncIterator[BrainEvent]:
    yield TextChunk("A very long first sentence.")


def test_a_cut_off_answer_closes_its_tts_stream_before_the_speaker_task_ends() -> None:
    tts = LongTTS()

    async def main() -> list[str]:
        task = asyncio.create_task(Speaker(tts, NullSink()).speak(answer()))
        await asyncio.sleep(0.5)  # playing; synthesis waits on the full queue
        assert not tts.closed
        task.cancel()
        await asyncio.wait([task])
        return list(tts.closed)  # the task (and its traceback) still referenced here

    assert run_virtual(main()) == ["A very long first sentence."]
