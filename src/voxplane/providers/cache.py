"""A TTS cache: the same words in the same voice are synthesized once per process.

Flow agents say the same prompts on every call ("What name should the booking be under?"),
so most of their speech comes from here after the first few calls: first audio in
microseconds instead of tens of milliseconds, and no CPU spent on it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator

from voxplane.media.frame import AudioFrame
from voxplane.providers.base import TTS

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""About 25 minutes of 22.05 kHz speech."""
MAX_TEXT_CHARS = 400
"""Longer texts are rarely repeated word for word: not worth the memory."""


class TtsCache:
    """Least-recently-used synthesized audio, bounded in bytes, shared across calls."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[tuple[str, str], tuple[AudioFrame, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, voice: str, text: str) -> tuple[AudioFrame, ...] | None:
        with self._lock:
            chunks = self._entries.get((voice, text))
            if chunks is None:
                self.misses += 1
                return None
            self._entries.move_to_end((voice, text))
            self.hits += 1
            return chunks

    def put(self, voice: str, text: str, chunks: tuple[AudioFrame, ...]) -> None:
        size = sum(chunk.samples.nbytes for chunk in chunks)
        if size > self._max_bytes or len(text) > MAX_TEXT_CHARS:
            return
        with self._lock:
            old = self._entries.pop((voice, text), None)
            if old is not None:
                self._bytes -= sum(chunk.samples.nbytes for chunk in old)
            self._entries[(voice, text)] = chunks
            self._bytes += size
            while self._bytes > self._max_bytes:
                _key, evicted = self._entries.popitem(last=False)
                self._bytes -= sum(chunk.samples.nbytes for chunk in evicted)

    @property
    def size_bytes(self) -> int:
        return self._bytes


class CachedTTS(TTS):
    """A TTS that answers from a :class:`TtsCache` when it can.

    ``voice`` must identify everything that changes the audio (provider, voice, speed,
    level). Only complete syntheses are stored: an interrupted one never is.
    """

    def __init__(self, inner: TTS, cache: TtsCache, voice: str) -> None:
        self.capabilities = inner.capabilities
        self._inner = inner
        self._cache = cache
        self._voice = voice

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        cached = self._cache.get(self._voice, text)
        if cached is not None:
            for chunk in cached:
                yield chunk
            return
        chunks: list[AudioFrame] = []
        async for chunk in self._inner.synthesize(text):
            chunk.samples.flags.writeable = False  # shared between calls from now on
            chunks.append(chunk)
            yield chunk
        self._cache.put(self._voice, text, tuple(chunks))
