"""Loading an agent synthesizes its fixed lines with the real Piper voice, so that the
first call's greeting and prompts come from the phrase cache."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from voxplane.agents.loader import load_agent_file
from voxplane.pipeline.chunker import spoken_pieces
from voxplane.providers.cache import CachedTTS, MemoryPhraseCache, PhraseKey
from voxplane.runtime.factory import LocalModels, ProviderFactory, fixed_lines

AGENT = Path(__file__).resolve().parents[2] / "examples" / "agents" / "acme-dental.yaml"


def test_agent_load_puts_the_greeting_then_every_fixed_line_in_the_cache(
    models: LocalModels,
) -> None:
    agent = load_agent_file(AGENT)
    cache = MemoryPhraseCache()
    lines = fixed_lines(agent)

    async def main() -> None:
        factory = ProviderFactory(replace(models, tts_cache=cache))
        parts = await factory.build(agent)
        assert isinstance(parts.tts, CachedTTS)
        rate = parts.tts.capabilities.sample_rate

        def key(piece: str) -> PhraseKey:
            return PhraseKey(parts.tts.voice, piece, rate)  # type: ignore[union-attr]

        for piece in spoken_pieces(lines[0]):  # the greeting: before the call is admitted
            assert await cache.contains(key(piece)), piece
        await factory.prepared()
        pieces = {piece for line in lines for piece in spoken_pieces(line)}
        assert len(pieces) > 20
        for piece in pieces:
            assert await cache.contains(key(piece)), piece
        before = cache.size_bytes
        second = await factory.build(agent)  # the next call: nothing synthesized again
        await factory.prepared()
        assert cache.size_bytes == before
        hits = cache.hits
        audio = [chunk async for chunk in second.tts.synthesize(spoken_pieces(lines[0])[0])]
        assert cache.hits == hits + 1 and audio[0].duration_ms > 500  # real speech, cached
        await factory.aclose()

    asyncio.run(main())
