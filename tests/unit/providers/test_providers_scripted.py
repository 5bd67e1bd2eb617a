"""``provider: scripted`` (a benchmarking aid): the agent document selects it, the factory
builds it, and it answers with its script without any model."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from voxplane.agents.schema import AgentConfig
from voxplane.media.vad import EnergyVad, SileroVad, Vad
from voxplane.providers.base import HangUp, TextChunk
from voxplane.providers.scripted import FixedReplyBrain, FixedTranscriptSTT, PresynthesizedTTS
from voxplane.runtime import factory
from voxplane.runtime.factory import ProviderFactory, needs_local_models

SCRIPTED: dict[str, Any] = {
    "name": "bench",
    "stt": {"provider": "scripted", "transcripts": ["one", "two"]},
    "tts": {"provider": "scripted", "ms_per_word": 100},
    "turn": {"vad": "energy"},
    "brain": {"type": "scripted", "reply": "Okay then.", "hang_up_after": 2},
}


def test_the_factory_builds_scripted_parts_without_loading_models() -> None:
    agent = AgentConfig.model_validate(SCRIPTED)
    assert not needs_local_models(agent)
    parts = asyncio.run(ProviderFactory().build(agent))
    assert isinstance(parts.stt, FixedTranscriptSTT)
    assert isinstance(parts.brain, FixedReplyBrain)
    assert isinstance(parts.tts, PresynthesizedTTS)
    assert isinstance(parts.vad, EnergyVad)


def test_scripted_providers_follow_their_script() -> None:
    async def main() -> None:
        parts = await ProviderFactory().build(AgentConfig.model_validate(SCRIPTED))
        audio = np.zeros(16_000, np.int16)
        heard = [(await parts.stt.recognize(audio)).text for _ in range(3)]
        assert heard == ["one", "two", "two"]  # the last transcript repeats
        assert [e async for e in parts.brain.greet()] == [TextChunk("Hello, how can I help?")]
        assert [e async for e in parts.brain.respond("x")] == [TextChunk("Okay then.")]
        assert [e async for e in parts.brain.respond("x")] == [TextChunk("Okay then."), HangUp()]
        chunks = [c async for c in parts.tts.synthesize("three words here")]
        assert sum(c.duration_ms for c in chunks) == pytest.approx(300)
        again = [c async for c in parts.tts.synthesize("other words again")]
        assert again[0].samples is chunks[0].samples  # synthesized once, reused

    asyncio.run(main())


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ("stt", {"provider": "scripted"}),  # no transcripts
        ("stt", {"provider": "whisper", "transcripts": ["x"]}),  # transcripts only when scripted
        ("brain", {"type": "scripted"}),  # no reply
        ("brain", {"type": "scripted", "reply": "x", "extra": 1}),
    ],
)
def test_scripted_sections_are_validated(section: str, value: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AgentConfig.model_validate({**SCRIPTED, section: value})


@pytest.mark.models
@pytest.mark.parametrize(("threshold", "max_prob"), [(0.5, 0.1), (0.2, 0.05), (0.22, 0.07)])
def test_the_silero_gate_skips_only_below_the_agents_release_threshold(
    threshold: float, max_prob: float
) -> None:
    document = {**SCRIPTED, "turn": {"vad": "silero", "vad_threshold": threshold}}
    vad = asyncio.run(ProviderFactory().build(AgentConfig.model_validate(document))).vad
    assert isinstance(vad, SileroVad) and vad.gate is not None
    assert vad.gate.max_prob == pytest.approx(max_prob)


@pytest.mark.models
@pytest.mark.parametrize(("threshold", "min_prob"), [(0.5, 0.7), (0.8, 0.8)])
def test_silero_windows_wait_together_only_past_the_agents_threshold(
    threshold: float, min_prob: float
) -> None:
    document = {**SCRIPTED, "turn": {"vad": "silero", "vad_threshold": threshold}}
    vad = asyncio.run(ProviderFactory().build(AgentConfig.model_validate(document))).vad
    assert isinstance(vad, SileroVad) and vad.hold is not None
    assert vad.hold.min_prob == pytest.approx(min_prob)


@pytest.mark.models
def test_a_preloaded_worker_gives_a_scripted_agent_its_silero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After ``preload`` (a worker's start), an agent of scripted providers with a Silero
    VAD gets the loaded model: its first call loads no second one."""

    def no_second_load(*args: object) -> None:
        raise AssertionError("Silero loaded again")

    async def main() -> Vad:
        worker = ProviderFactory()
        await worker.preload()
        monkeypatch.setattr(factory, "SileroModel", no_second_load)
        document = {**SCRIPTED, "turn": {"vad": "silero"}}
        return (await worker.build(AgentConfig.model_validate(document))).vad

    assert isinstance(asyncio.run(main()), SileroVad)
