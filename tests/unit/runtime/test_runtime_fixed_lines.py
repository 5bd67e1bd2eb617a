"""An agent's fixed lines are known when it is loaded, and synthesized into the phrase
cache then, so that a call's greeting and prompts come from the cache (scripted TTS)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from voxplane.agents.schema import AgentConfig, TurnConfig
from voxplane.pipeline.chunker import spoken_pieces
from voxplane.pipeline.session import CallParts, CallSession
from voxplane.providers.base import TextChunk
from voxplane.providers.cache import CachedTTS, MemoryPhraseCache
from voxplane.providers.flow.brain import FlowBrain
from voxplane.providers.flow.engine import FlowEngine
from voxplane.runtime.factory import fixed_lines, prepare_lines
from voxplane.testing.clock import run_virtual
from voxplane.testing.fakes import ScriptedSTT, ScriptedTTS, ToneVad, caller_speech
from voxplane.transports.simulated import CallerTurn, SimulatedCaller

EXAMPLE = Path(__file__).parents[3] / "examples" / "agents" / "acme-dental.yaml"


def acme() -> AgentConfig:
    return AgentConfig.model_validate(yaml.safe_load(EXAMPLE.read_text()))


def said(events: list[Any]) -> str:
    return " ".join(e.text for e in events if isinstance(e, TextChunk))


async def greeting_of(brain: FlowBrain) -> str:
    return said([event async for event in brain.greet()])


async def reply_of(brain: FlowBrain, text: str) -> str:
    return said([event async for event in brain.respond(text)])


def test_a_flow_lists_what_it_says_whatever_the_caller_says() -> None:
    agent = acme()
    lines = fixed_lines(agent)
    brain = FlowBrain(agent.brain, agent.call.first_message)  # type: ignore[arg-type]

    async def conversation() -> list[str]:
        return [
            await greeting_of(brain),
            await reply_of(brain, "I'd like to book a cleaning."),  # enters a node
            await reply_of(brain, "purple elephant"),  # not understood: the retry
            await reply_of(brain, "What are your opening hours?"),  # FAQ, then the question
        ]

    replies = asyncio.run(conversation())
    assert lines[0] == replies[0]  # the greeting first
    for reply in replies:
        assert reply in lines, reply
    assert agent.call.silence_reprompt in lines and agent.call.silence_goodbye in lines


def test_replies_that_name_a_slot_are_not_fixed() -> None:
    flow = AgentConfig.model_validate(
        {
            "name": "t",
            "brain": {
                "type": "flow",
                "start": "ask",
                "nodes": {
                    "ask": {
                        "gather": {"slot": "who", "type": "free_text", "prompt": "Your name?"},
                        "next": "thanks",
                    },
                    "thanks": {"say": "Thanks, {who}. Goodbye.", "action": {"type": "hangup"}},
                },
            },
        }
    ).brain
    lines = FlowEngine.fixed_replies(flow)  # type: ignore[arg-type]
    assert "Your name?" in lines
    assert not any("Thanks" in line for line in lines)


def test_prepared_lines_make_a_calls_first_words_come_from_the_cache() -> None:
    agent = acme()

    async def main() -> None:
        cache, inner = MemoryPhraseCache(), ScriptedTTS(first_audio_s=0)
        loading = CachedTTS(inner, cache, "fake:1.0")
        made = await prepare_lines(loading, fixed_lines(agent))
        pieces = [piece for line in fixed_lines(agent) for piece in spoken_pieces(line)]
        assert made == len(set(pieces)) and sorted(inner.spoken) == sorted(set(pieces))
        assert await prepare_lines(loading, fixed_lines(agent)) == 0  # already there
        inner.spoken.clear()
        brain = FlowBrain(agent.brain, agent.call.first_message)  # type: ignore[arg-type]
        call_tts = CachedTTS(inner, cache, "fake:1.0")  # a call's TTS on the same cache
        for piece in spoken_pieces(await greeting_of(brain)):
            _ = [chunk async for chunk in call_tts.synthesize(piece)]
        assert inner.spoken == []  # every piece of the greeting came from the cache

    asyncio.run(main())


def test_a_tts_without_a_cache_prepares_nothing() -> None:
    inner = ScriptedTTS(first_audio_s=0)
    assert asyncio.run(prepare_lines(inner, ["Hello there."])) == 0
    assert inner.spoken == []


def test_a_call_after_agent_load_synthesizes_only_what_the_caller_made_it_say() -> None:
    agent = acme()
    cache, inner = MemoryPhraseCache(), ScriptedTTS(first_audio_s=0.05)
    stt = ScriptedSTT(["Purple elephant.", "What are your opening hours?"])
    brain = FlowBrain(agent.brain, agent.call.first_message)  # type: ignore[arg-type]
    parts = CallParts(stt, brain, CachedTTS(inner, cache, "fake:1.0"), ToneVad())
    turns = [CallerTurn(caller_speech(i, 800), 16_000) for i in range(2)]
    session = CallSession(parts, SimulatedCaller(turns), TurnConfig(vad="energy"), agent.call)

    async def main() -> None:
        await prepare_lines(CachedTTS(inner, cache, "fake:1.0"), fixed_lines(agent))
        inner.spoken.clear()
        result = await session.run()
        said = [t.text for t in result.turns if t.role == "agent"]
        assert len(said) == 3 and said[0].startswith("Thank you for calling Acme Dental")
        assert inner.spoken == []  # greeting, retry and FAQ answer: all from the cache

    run_virtual(main())
