"""The in-memory phrase cache's own behaviour: its byte budget. What every backend does is
in tests/contract/test_tts_cache_contract.py."""

from __future__ import annotations

import asyncio

from voxplane.media.frame import AudioFrame
from voxplane.providers.cache import CachedTTS, MemoryPhraseCache
from voxplane.testing.fakes import ScriptedTTS


def _say(tts: CachedTTS, text: str) -> list[AudioFrame]:
    async def collect() -> list[AudioFrame]:
        return [chunk async for chunk in tts.synthesize(text)]

    return asyncio.run(collect())


def test_the_cache_stays_within_its_byte_budget_dropping_the_least_recently_used() -> None:
    inner = ScriptedTTS(ms_per_word=100, first_audio_s=0)  # 16 kHz: 3,200 bytes per word
    cache = MemoryPhraseCache(max_bytes=14_000)
    tts = CachedTTS(inner, cache, "fake")
    for text in ["one two", "three four"]:  # 6,400 bytes each
        _say(tts, text)
    _say(tts, "one two")  # used again: now the most recent
    _say(tts, "five six")  # over the budget: "three four" goes
    assert cache.size_bytes <= 14_000
    _say(tts, "one two")
    _say(tts, "three four")
    assert inner.spoken == ["one two", "three four", "five six", "three four"]


def test_a_phrase_larger_than_the_whole_budget_is_not_stored() -> None:
    inner = ScriptedTTS(ms_per_word=100, first_audio_s=0)
    cache = MemoryPhraseCache(max_bytes=5_000)
    tts = CachedTTS(inner, cache, "fake")
    _say(tts, "one two")  # 6,400 bytes
    _say(tts, "one two")
    assert inner.spoken == ["one two", "one two"] and cache.size_bytes == 0
