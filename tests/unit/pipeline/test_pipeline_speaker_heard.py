"""An answer played to its end was heard whole, whatever the sink's sample rate.

Resampling the TTS's audio to the line's rate rounds its length to a whole sample, so the
frames sent may come to a fraction of a sample less than the TTS's own length: that is no
word unheard. (Piper speaks in 256-sample steps at 22.05 kHz; at 8 kHz one length in 441
rounds just under a frame boundary, as the greeting of a model test did on CI's CPU.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from voxplane.media.frame import AudioFrame
from voxplane.pipeline.speaker import Speaker
from voxplane.providers.base import TTS, BrainEvent, TextChunk, TtsCapabilities
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import tone
from voxplane.transports.base import AudioSink

ANSWER = "What can I do for you today?"


class PhoneSink(AudioSink):
    sample_rate = 8000

    def __init__(self) -> None:
        self.frames = 0

    async def send(self, frame: AudioFrame) -> None:
        self.frames += 1

    async def clear(self) -> None:
        pass

    async def wait_for_playout(self) -> None:
        pass


class SteppedTTS(TTS):
    """``steps`` of 256 samples at 22.05 kHz for any text, as Piper's are."""

    def __init__(self, steps: int) -> None:
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=22_050)
        self._samples = 256 * steps

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        speech = np.resize(tone(20, 22_050), self._samples)  # stands in for speech
        yield AudioFrame(speech, 22_050)


async def answer() -> AsyncIterator[BrainEvent]:
    yield TextChunk(ANSWER)


@pytest.mark.parametrize("steps", [205, 646, 1087, 1099])
def test_an_answer_played_to_its_end_was_heard_whole(steps: int) -> None:
    sink = PhoneSink()
    speaker = Speaker(SteppedTTS(steps), sink)
    run_virtual(speaker.speak(answer()))
    at_8k = round(256 * steps * 8000 / 22_050)  # the length, rounded to a whole sample
    assert sink.frames == -(-at_8k // 160)  # padded to a whole frame
    assert speaker.heard() == ANSWER


def test_audio_still_buffered_on_the_line_was_not_heard() -> None:
    speaker = Speaker(SteppedTTS(1087), PhoneSink())  # 12 620 ms, 7 words
    run_virtual(speaker.speak(answer()))
    assert speaker.heard(buffered_ms=20) == "What can I do for you"
