"""The TTS phrase cache: the same words in the same voice are synthesized once per worker
(memory) or once per deployment (Redis).

Agents say the same lines on every call (greetings, reprompts, "What name should the
booking be under?"), so most of their speech comes from here: first audio in microseconds
instead of tens of milliseconds, and no CPU spent on it. An agent's fixed lines are put in
when the agent is loaded (:mod:`voxplane.runtime.factory`), so even its first call's
greeting comes from the cache.

A phrase is keyed by the voice (everything that changes the audio: provider, voice, speed,
level), the text and the audio's format (16-bit mono PCM at a sample rate). Two backends:

- :class:`MemoryPhraseCache` (default): least recently used phrases, bounded in bytes,
  shared by every call of the process;
- :class:`RedisPhraseCache` (when the deployment uses Redis): shared by every worker,
  each phrase expiring ``ttl_s`` after its last use. A Redis that is down is a cache miss
  (logged), never a failed call.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxplane.media.frame import AudioFrame
from voxplane.net.cancels import cancels_kept
from voxplane.observability import metrics
from voxplane.providers.base import TTS
from voxplane.providers.streams import closing

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""About 25 minutes of 22.05 kHz speech."""
MAX_TEXT_CHARS = 400
"""Longer texts are rarely repeated word for word: not worth the memory."""
MAX_PHRASE_BYTES = 4 * 1024 * 1024
"""About 90 s of 22.05 kHz speech: a longer phrase is not stored."""
DEFAULT_TTL_S = 7 * 86_400
_PCM = np.dtype("<i2")


@dataclass(frozen=True, slots=True)
class PhraseKey:
    voice: str
    text: str
    sample_rate: int
    format: str = "pcm16"

    def digest(self) -> str:
        """A fixed-length name for the key (Redis), the same in every process."""
        raw = "\x1f".join((self.format, str(self.sample_rate), self.voice, self.text))
        return hashlib.sha256(raw.encode()).hexdigest()


def storable(key: PhraseKey, audio: AudioFrame) -> bool:
    return len(key.text) <= MAX_TEXT_CHARS and 0 < audio.samples.nbytes <= MAX_PHRASE_BYTES


class PhraseCache(ABC):
    """Synthesized phrases, shared by the calls of a worker (or of a deployment)."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    async def get(self, key: PhraseKey) -> AudioFrame | None:
        """The phrase's audio (read-only samples), or None."""
        audio = await self._get(key)
        if audio is None:
            self.misses += 1
        else:
            self.hits += 1
        metrics.TTS_CACHE.labels("miss" if audio is None else "hit").inc()
        return audio

    @abstractmethod
    async def _get(self, key: PhraseKey) -> AudioFrame | None: ...

    @abstractmethod
    async def contains(self, key: PhraseKey) -> bool:
        """Whether the phrase is stored (not counted as a hit or miss)."""

    @abstractmethod
    async def put(self, key: PhraseKey, audio: AudioFrame) -> None:
        """Store the phrase; too long a text or too much audio is silently not stored."""

    async def aclose(self) -> None:  # noqa: B027 - nothing to close by default
        """Release what the cache holds open (not a client it was given)."""


class MemoryPhraseCache(PhraseCache):
    """Least-recently-used phrases in this process, bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__()
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[PhraseKey, AudioFrame] = OrderedDict()
        self._lock = threading.Lock()

    async def _get(self, key: PhraseKey) -> AudioFrame | None:
        with self._lock:
            audio = self._entries.get(key)
            if audio is not None:
                self._entries.move_to_end(key)
            return audio

    async def contains(self, key: PhraseKey) -> bool:
        with self._lock:
            return key in self._entries

    async def put(self, key: PhraseKey, audio: AudioFrame) -> None:
        size = audio.samples.nbytes
        if not storable(key, audio) or size > self._max_bytes:
            return
        audio.samples.flags.writeable = False  # shared between calls from now on
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.samples.nbytes
            self._entries[key] = audio
            self._bytes += size
            while self._bytes > self._max_bytes:
                _key, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.samples.nbytes

    @property
    def size_bytes(self) -> int:
        return self._bytes


class RedisPhraseCache(PhraseCache):
    """Phrases in Redis under ``{prefix}:tts:{sha256}``, as little-endian 16-bit PCM; each
    expires ``ttl_s`` after it was last stored or read. Uses a client it is given and does
    not close it."""

    def __init__(self, client: Redis, *, prefix: str = "vxp", ttl_s: int = DEFAULT_TTL_S) -> None:
        super().__init__()
        self._client = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    def _name(self, key: PhraseKey) -> str:
        return f"{self._prefix}:tts:{key.digest()}"

    async def _get(self, key: PhraseKey) -> AudioFrame | None:
        try:
            with cancels_kept():  # a cut reply must stop here
                value = await self._client.getex(self._name(key), ex=self._ttl_s)
        except RedisError as error:
            log.warning("tts cache unavailable", extra={"error": str(error)})
            return None
        if not isinstance(value, bytes) or not value or len(value) % 2:
            return None  # absent, or not what this cache writes: synthesize instead
        samples = np.frombuffer(value, dtype=_PCM).astype(np.int16)
        samples.flags.writeable = False
        return AudioFrame(samples, key.sample_rate)

    async def contains(self, key: PhraseKey) -> bool:
        try:
            with cancels_kept():  # a cut reply must stop here
                return bool(await self._client.exists(self._name(key)))
        except RedisError as error:
            log.warning("tts cache unavailable", extra={"error": str(error)})
            return False

    async def put(self, key: PhraseKey, audio: AudioFrame) -> None:
        if not storable(key, audio):
            return
        data = audio.samples.astype(_PCM).tobytes()
        try:
            with cancels_kept():  # a cut reply must stop here
                await self._client.set(self._name(key), data, ex=self._ttl_s)
        except RedisError as error:
            log.warning("tts cache unavailable", extra={"error": str(error)})


class CachedTTS(TTS):
    """A TTS that answers from a :class:`PhraseCache` when it can.

    ``voice`` must identify everything that changes the audio (provider, voice, speed,
    level). Only complete syntheses are stored, as one piece of audio: an interrupted one
    never is.
    """

    def __init__(self, inner: TTS, cache: PhraseCache, voice: str) -> None:
        self.capabilities = inner.capabilities
        self._inner = inner
        self._cache = cache
        self._voice = voice

    @property
    def voice(self) -> str:
        return self._voice

    def _key(self, text: str) -> PhraseKey:
        return PhraseKey(self._voice, text, self.capabilities.sample_rate)

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        key = self._key(text)
        cached = await self._cache.get(key)
        if cached is not None:
            yield cached
            return
        chunks: list[AudioFrame] = []
        async with closing(self._inner.synthesize(text)) as stream:  # closed early: stopped
            async for chunk in stream:
                chunk.samples.flags.writeable = False  # may be shared between calls from now on
                chunks.append(chunk)
                yield chunk
        if chunks and all(chunk.sample_rate == key.sample_rate for chunk in chunks):
            samples = np.concatenate([chunk.samples for chunk in chunks])
            await self._cache.put(key, AudioFrame(samples, key.sample_rate))

    async def prepare(self, text: str) -> bool:
        """Synthesize ``text`` into the cache unless it is there; True when it was."""
        if await self._cache.contains(self._key(text)):
            return True
        async for _chunk in self.synthesize(text):
            pass
        return False

    async def aclose(self) -> None:
        """Close the inner TTS (the cache is shared: it stays open)."""
        await self._inner.aclose()
