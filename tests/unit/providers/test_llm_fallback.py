"""An LLM agent's ``fallback`` models: the brain talks through a FallbackLLM that skips a
failing or silent model for the next, with a circuit breaker per model. Models are
scripted fakes (``ScriptedLLM``); the router and breakers are the real ones."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from voxplane.agents.llm import LlmBrainConfig
from voxplane.errors import ProviderError
from voxplane.providers.base import ChatMessage, LlmOptions, TextDelta
from voxplane.providers.breaker import BreakerBoard, BreakerPolicy
from voxplane.providers.fallback import FallbackLLM, FallbackRouter, Member, RoutingPolicy
from voxplane.runtime.llm import build_llm_brain
from voxplane.testing.clock import run_virtual
from voxplane.testing.scripted_llm import ScriptedLLM, words

ASK = [ChatMessage("user", "Hello?")]


def fallback(*models: ScriptedLLM, failures: int = 2, timeout_s: float = 1.0) -> FallbackLLM:
    board = BreakerBoard()
    policy = BreakerPolicy(failures=failures, cooldown_s=30.0)
    members = [
        Member(f"m{i}", model, board.breaker("llm", f"m{i}", "acct", policy))
        for i, model in enumerate(models)
    ]
    return FallbackLLM(FallbackRouter("llm", members, RoutingPolicy(timeout_s)))


async def text(llm: FallbackLLM) -> str:
    out = [e.text async for e in llm.stream(ASK, (), LlmOptions()) if isinstance(e, TextDelta)]
    return "".join(out)


def test_a_failing_model_is_skipped_and_its_breaker_opens() -> None:
    down = ScriptedLLM([[ProviderError("502 from the model server", retryable=True)]])
    spare = ScriptedLLM([words("Hi, how can I help?")])
    llm = fallback(down, spare)
    for _ in range(3):
        assert run_virtual(text(llm)) == "Hi, how can I help?"
    assert len(down.requests) == 2  # open after two failures: the third goes straight on
    assert len(spare.requests) == 3
    assert llm.name == "scripted > scripted"


def test_a_model_silent_past_the_attempt_timeout_is_skipped() -> None:
    slow = ScriptedLLM([[5.0, *words("Too late.")]])
    spare = ScriptedLLM([words("On time.")])
    assert run_virtual(text(fallback(slow, spare, timeout_s=1.0))) == "On time."


def test_an_answer_that_fails_midway_is_not_restarted_on_another_model() -> None:
    broken = ScriptedLLM([[*words("Half an"), ProviderError("reset", retryable=True)]])
    spare = ScriptedLLM([words("Whole answer.")])
    with pytest.raises(ProviderError):
        run_virtual(text(fallback(broken, spare)))
    assert spare.requests == []  # the caller must not hear the start twice


def test_the_brain_section_takes_fallback_models_and_builds_them_behind_one_llm() -> None:
    config = LlmBrainConfig.model_validate(
        {
            "type": "llm",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_key": "sk-primary",
            "prompt": "Be brief.",
            "fallback": [
                {"provider": "anthropic", "model": "claude-x", "api_key": "sk-ant"},
                {"provider": "openai", "model": "local", "base_url": "http://127.0.0.1:9/v1"},
            ],
            "routing": {"failures": 2, "attempt_timeout_s": 2.0},
        }
    )
    brain = asyncio.run(build_llm_brain(config, None, reveal=None, allow_private=True))
    assert isinstance(brain.llm.inner, FallbackLLM)
    assert [m.name for m in brain.llm.inner.router.members] == ["openai", "anthropic", "openai"]
    assert brain.llm.inner.router.policy.attempt_timeout_s == 2.0


def test_a_fallback_model_without_a_key_names_its_field() -> None:
    with pytest.raises(ValidationError, match=r"brain\.fallback\[0\]\.api_key_env"):
        LlmBrainConfig.model_validate(
            {
                "type": "llm",
                "provider": "openai",
                "model": "m",
                "api_key": "k",
                "prompt": "p",
                "fallback": [{"provider": "anthropic", "model": "claude-x"}],
            }
        )
