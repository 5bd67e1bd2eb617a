"""Keypad keys a brain sends (an LLM's ``send_dtmf`` tool) go on the line after the words
before them have been heard, and before the words after them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.pipeline.speaker import Speaker
from voxplane.providers.base import BrainEvent, SendDtmf, TextChunk
from voxplane.testing.clock import run_virtual
from voxplane.testing.dtmf import detect_keys
from voxplane.testing.fakes import ScriptedTTS
from voxplane.transports.base import AudioSink


class LineSink(AudioSink):
    """Records frames and key presses in the order they reach the line."""

    sample_rate = 8000

    def __init__(self) -> None:
        self.line: list[str] = []

    async def send(self, frame: AudioFrame) -> None:
        self.line.append("audio")

    async def clear(self) -> None:
        pass

    def buffered_ms(self) -> float:
        return 0.0

    async def wait_for_playout(self) -> None:
        pass


async def answer() -> AsyncIterator[BrainEvent]:
    yield TextChunk("Pressing one for you")  # no sentence end yet: still pending
    yield SendDtmf("1#")
    yield TextChunk("Now we wait for an agent.")


def test_keys_go_between_the_words_around_them() -> None:
    sink = LineSink()

    async def press(keys: str) -> None:
        sink.line.append(f"keys:{keys}")

    speaker = Speaker(ScriptedTTS(ms_per_word=100), sink, send_dtmf=press)
    run_virtual(speaker.speak(answer()))
    keys_at = sink.line.index("keys:1#")
    assert sink.line.count("keys:1#") == 1 and speaker.keys_sent == "1#"
    assert keys_at == 4 * 100 // 20  # after the 4 words before them, 20 ms per frame
    assert len(sink.line) - keys_at - 1 == 6 * 100 // 20  # then the 6 words after


class SoundSink(LineSink):
    """Keeps the audio that reaches the line."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Pcm16] = []

    async def send(self, frame: AudioFrame) -> None:
        await super().send(frame)
        self.frames.append(frame.samples)


def test_a_line_of_audio_only_gets_the_keys_as_tones_between_the_words() -> None:
    sink = SoundSink()
    speaker = Speaker(ScriptedTTS(ms_per_word=100), sink)  # no way to send keys out of band
    run_virtual(speaker.speak(answer()))
    before, tones = 4 * 100 // 20, (100 + 2 * 200) // 20  # 4 words; a pause, 2 keys
    assert len(sink.frames) == before + tones + 6 * 100 // 20  # then the 6 words after
    played = np.concatenate(sink.frames[before : before + tones])
    assert detect_keys(played, 8000) == "1#"
    assert speaker.keys_sent == "1#"
    # what the caller heard is words only, the tones' time counted between them
    assert speaker.heard() == "Pressing one for you Now we wait for an agent."
    assert speaker.heard(buffered_ms=20.0 * (6 * 100 // 20)) == "Pressing one for you"


def test_keys_alone_are_sent() -> None:
    sink = LineSink()
    pressed: list[str] = []

    async def press(keys: str) -> None:
        pressed.append(keys)

    async def keys_only() -> AsyncIterator[BrainEvent]:
        yield SendDtmf("42")
        await asyncio.sleep(0)

    run_virtual(Speaker(ScriptedTTS(), sink, send_dtmf=press).speak(keys_only()))
    assert pressed == ["42"] and sink.line == []
