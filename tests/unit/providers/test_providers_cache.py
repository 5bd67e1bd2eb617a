"""The TTS cache: same words, same voice, synthesized once."""

from __future__ import annotations

import asyncio

import numpy as np

from voxplane.media.frame import AudioFrame
from voxplane.providers.cache import CachedTTS, TtsCache
from voxplane.testing.fakes import ScriptedTTS


def _say(tts: CachedTTS, text: str) -> list[AudioFrame]:
    async def collect() -> list[AudioFrame]:
        return [chunk async for chunk in tts.synthesize(text)]

    return asyncio.run(collect())


def test_repeated_words_come_from_the_cache() -> None:
    inner, cache = ScriptedTTS(first_audio_s=0), TtsCache()
    tts = CachedTTS(inner, cache, "fake:1.0")
    first = _say(tts, "How can I help?")
    again = _say(CachedTTS(inner, cache, "fake:1.0"), "How can I help?")  # another call
    assert inner.spoken == ["How can I help?"]
    assert np.array_equal(first[0].samples, again[0].samples)
    assert (cache.hits, cache.misses) == (1, 1)


def test_another_voice_or_text_is_synthesized() -> None:
    inner, cache = ScriptedTTS(first_audio_s=0), TtsCache()
    _say(CachedTTS(inner, cache, "fake:1.0"), "Hello there.")
    _say(CachedTTS(inner, cache, "fake:1.2"), "Hello there.")
    _say(CachedTTS(inner, cache, "fake:1.0"), "Hello again.")
    assert inner.spoken == ["Hello there.", "Hello there.", "Hello again."]


def test_the_cache_stays_within_its_byte_budget() -> None:
    inner = ScriptedTTS(ms_per_word=100, first_audio_s=0)  # 16 kHz: 3,200 bytes per word
    cache = TtsCache(max_bytes=10_000)
    tts = CachedTTS(inner, cache, "fake")
    for text in ["one two", "three four", "five six"]:  # 6,400 bytes each
        _say(tts, text)
    assert cache.size_bytes <= 10_000
    _say(tts, "five six")  # the newest is kept
    _say(tts, "one two")  # the oldest was evicted
    assert inner.spoken == ["one two", "three four", "five six", "one two"]


def test_an_interrupted_synthesis_is_not_stored() -> None:
    inner, cache = ScriptedTTS(first_audio_s=0), TtsCache()
    tts = CachedTTS(inner, cache, "fake")

    async def cut_short() -> None:
        stream = tts.synthesize("Never finished.")
        await anext(stream)
        await stream.aclose()

    asyncio.run(cut_short())
    _say(tts, "Never finished.")
    assert inner.spoken == ["Never finished.", "Never finished."]
