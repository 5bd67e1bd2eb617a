"""One contract for the TTS phrase cache, run against memory and Redis alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import numpy as np
import pytest
from redis.asyncio import Redis

from voxplane.media.frame import AudioFrame
from voxplane.providers.cache import (
    MAX_TEXT_CHARS,
    CachedTTS,
    MemoryPhraseCache,
    PhraseCache,
    PhraseKey,
    RedisPhraseCache,
)
from voxplane.testing.fakes import ScriptedTTS, tone

from .conftest import REDIS_URL, assert_cancels_are_kept, delete_prefix

Workers = Callable[[], Awaitable[PhraseCache]]
"""Opens the cache of another worker of the same deployment."""
Body = Callable[[Workers], Awaitable[None]]


class Caches:
    """Runs a test body against one kind of cache; the body opens one cache per worker."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def run(self, body: Body) -> None:
        asyncio.run(self._run(body))

    async def _run(self, body: Body) -> None:
        async with self._workers() as workers:
            await body(workers)

    @asynccontextmanager
    async def _workers(self) -> AsyncIterator[Workers]:
        if self.kind == "memory":
            shared = MemoryPhraseCache()  # one process: its calls share one cache

            async def memory() -> PhraseCache:
                return shared

            yield memory
            return
        prefix = f"vxptest:{uuid.uuid4().hex[:12]}"
        clients: list[Redis] = []

        async def redis() -> PhraseCache:
            clients.append(Redis.from_url(REDIS_URL))  # each worker its own connection
            return RedisPhraseCache(clients[-1], prefix=prefix, ttl_s=60)

        try:
            yield redis
        finally:
            if clients:
                await delete_prefix(clients[0], prefix)
            for client in clients:
                await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def caches(request: pytest.FixtureRequest) -> Caches:
    return Caches(request.param)


async def spoken(tts: CachedTTS, text: str) -> AudioFrame:
    chunks = [chunk async for chunk in tts.synthesize(text)]
    return AudioFrame(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate)


def test_a_stored_phrase_comes_back_as_stored(caches: Caches) -> None:
    async def body(worker: Workers) -> None:
        cache = await worker()
        key = PhraseKey("piper:joe:1.0:-20.0", "How can I help?", 22_050)
        audio = AudioFrame(tone(400, 22_050), 22_050)
        assert await cache.get(key) is None and not await cache.contains(key)
        await cache.put(key, audio)
        assert await cache.contains(key)
        back = await cache.get(key)
        assert back is not None and back.sample_rate == 22_050
        assert np.array_equal(back.samples, audio.samples) and back.samples.dtype == np.int16
        assert not back.samples.flags.writeable  # shared: nobody may change it
        assert (cache.hits, cache.misses) == (1, 1)

    caches.run(body)


def test_voice_text_and_sample_rate_are_each_part_of_the_key(caches: Caches) -> None:
    async def body(worker: Workers) -> None:
        cache = await worker()
        key = PhraseKey("piper:joe:1.0:-20.0", "Hello there.", 22_050)
        await cache.put(key, AudioFrame(tone(300, 22_050), 22_050))
        for other in (
            PhraseKey("piper:joe:1.2:-20.0", "Hello there.", 22_050),
            PhraseKey("piper:joe:1.0:-20.0", "Hello again.", 22_050),
            PhraseKey("piper:joe:1.0:-20.0", "Hello there.", 16_000),
            PhraseKey("piper:joe:1.0:-20.0", "hello there.", 22_050),
        ):
            assert await cache.get(other) is None, other

    caches.run(body)


def test_the_workers_of_a_deployment_share_what_was_synthesized(caches: Caches) -> None:
    async def body(worker: Workers) -> None:
        inner = ScriptedTTS(first_audio_s=0)
        first = CachedTTS(inner, await worker(), "fake:1.0")
        second = CachedTTS(inner, await worker(), "fake:1.0")  # another call, or worker
        said = await spoken(first, "Thanks for calling.")
        again = await spoken(second, "Thanks for calling.")
        assert inner.spoken == ["Thanks for calling."]
        assert np.array_equal(said.samples, again.samples)

    caches.run(body)


def test_prepare_synthesizes_once_and_later_calls_hit(caches: Caches) -> None:
    async def body(worker: Workers) -> None:
        inner = ScriptedTTS(first_audio_s=0)
        cache = await worker()
        tts = CachedTTS(inner, cache, "fake")
        assert await tts.prepare("Welcome to Acme Dental.") is False
        assert await tts.prepare("Welcome to Acme Dental.") is True
        await spoken(tts, "Welcome to Acme Dental.")
        assert inner.spoken == ["Welcome to Acme Dental."] and cache.hits == 1

    caches.run(body)


def test_an_interrupted_synthesis_is_not_stored(caches: Caches) -> None:
    async def body(worker: Workers) -> None:
        inner = ScriptedTTS(first_audio_s=0)
        tts = CachedTTS(inner, await worker(), "fake")
        stream = tts.synthesize("Never finished.")
        await anext(stream)
        await stream.aclose()
        await spoken(tts, "Never finished.")
        assert inner.spoken == ["Never finished.", "Never finished."]

    caches.run(body)


def test_long_texts_and_empty_audio_are_not_stored(caches: Caches) -> None:
    async def body(worker: Workers) -> None:
        cache = await worker()
        long = PhraseKey("fake", "word " * (MAX_TEXT_CHARS // 5 + 1), 16_000)
        await cache.put(long, AudioFrame(tone(200), 16_000))
        empty = PhraseKey("fake", "Nothing.", 16_000)
        await cache.put(empty, AudioFrame(np.zeros(0, np.int16), 16_000))
        assert not await cache.contains(long) and not await cache.contains(empty)

    caches.run(body)


def test_a_redis_that_is_down_is_a_miss_and_the_words_are_still_spoken() -> None:
    async def main() -> None:
        client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
        try:
            inner = ScriptedTTS(first_audio_s=0)
            tts = CachedTTS(inner, RedisPhraseCache(client), "fake")
            said = await spoken(tts, "Still here.")
            assert len(said.samples) > 0 and inner.spoken == ["Still here."]
            assert await tts.prepare("Still here.") is False  # nothing stored, nothing raised
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_value_that_is_not_pcm_is_a_miss() -> None:
    async def main() -> None:
        client = Redis.from_url(REDIS_URL)
        prefix = f"vxptest:{uuid.uuid4().hex[:12]}"
        try:
            cache = RedisPhraseCache(client, prefix=prefix)
            key = PhraseKey("fake", "Odd.", 16_000)
            await client.set(f"{prefix}:tts:{key.digest()}", b"abc")  # an odd byte count
            assert await cache.get(key) is None
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()

    asyncio.run(main())


def test_a_task_cancelled_while_it_asks_the_cache_is_cancelled(caches: Caches) -> None:
    # redis-py swallows a cancel that lands as a command's write completes (asyncio.wait_for
    # on Python 3.11, CPython gh-86296): a reply cut by a barge-in would then run on.
    async def body(worker: Workers) -> None:
        cache = await worker()
        key = PhraseKey("piper:joe:1.0:-20.0", "Still there?", 22_050)
        await assert_cancels_are_kept(lambda: cache.contains(key))

    caches.run(body)
