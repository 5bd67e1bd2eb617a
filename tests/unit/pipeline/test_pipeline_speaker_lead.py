"""A sink that plays on its own clock is kept ``lead_ms`` ahead: the first frames of an
answer go at once, then one per 20 ms, so a late wake-up of the pipeline is not a gap on the
line. After the line has run dry (TTS fell behind), the lead is filled again rather than
the skipped frames burst. Virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from voxplane.media.frame import AudioFrame
from voxplane.pipeline.speaker import Speaker
from voxplane.providers.base import TTS, BrainEvent, TextChunk, TtsCapabilities
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import tone
from voxplane.transports.base import AudioSink


class ClockedSink(AudioSink):
    """Notes the loop time of every frame it is sent (ms from the first)."""

    sample_rate = 16_000

    def __init__(self, lead_ms: float) -> None:
        self.lead_ms = lead_ms
        self.sent_at: list[float] = []

    async def send(self, frame: AudioFrame) -> None:
        self.sent_at.append(asyncio.get_running_loop().time())

    async def clear(self) -> None:
        pass

    async def wait_for_playout(self) -> None:
        pass

    def offsets_ms(self) -> list[int]:
        return [round(1000 * (t - self.sent_at[0])) for t in self.sent_at]


class StallingTTS(TTS):
    """``frames`` 20-ms chunks, ready at once, except that chunk ``stall_at`` comes
    ``stall_ms`` late (a synthesis falling behind playout)."""

    def __init__(self, frames: int, stall_at: int = -1, stall_ms: int = 0) -> None:
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=16_000)
        self._frames, self._stall_at, self._stall_ms = frames, stall_at, stall_ms

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        for index in range(self._frames):
            if index == self._stall_at:
                await asyncio.sleep(self._stall_ms / 1000)
            yield AudioFrame(tone(20), 16_000)


async def one_sentence() -> AsyncIterator[BrainEvent]:
    yield TextChunk("One sentence.")


def speak(tts: TTS, sink: ClockedSink) -> list[int]:
    run_virtual(Speaker(tts, sink).speak(one_sentence()))
    return sink.offsets_ms()


def test_a_clocked_sink_gets_the_lead_at_once_then_one_frame_per_20_ms() -> None:
    offsets = speak(StallingTTS(10), ClockedSink(lead_ms=60))
    assert offsets == [0, 0, 0, 0, 20, 40, 60, 80, 100, 120]


def test_a_sink_without_lead_gets_one_frame_per_20_ms_from_the_first() -> None:
    offsets = speak(StallingTTS(6), ClockedSink(lead_ms=0))
    assert offsets == [0, 20, 40, 60, 80, 100]


def test_after_the_line_ran_dry_the_lead_is_filled_again_not_the_gap_burst() -> None:
    # Frame 6 comes 200 ms late: the 60 ms lead has played out long before it.
    offsets = speak(StallingTTS(12, stall_at=6, stall_ms=200), ClockedSink(lead_ms=60))
    assert offsets[:6] == [0, 0, 0, 0, 20, 40]
    assert offsets[6:] == [200, 200, 200, 200, 220, 240]


def test_a_short_stall_within_the_lead_is_caught_up_without_a_gap() -> None:
    # Frame 6 is due at 60 ms and comes at 70: 10 ms behind, well inside the 60 ms lead.
    # The line never ran dry: the frame goes at once and the cadence goes on.
    offsets = speak(StallingTTS(10, stall_at=6, stall_ms=70), ClockedSink(lead_ms=60))
    assert offsets[:6] == [0, 0, 0, 0, 20, 40]
    assert offsets[6:] == [70, 80, 100, 120]
