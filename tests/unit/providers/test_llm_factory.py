"""The one provider factory builds an LLM agent's brain: keys from the tenant's stored
credentials by name (serve), the SSRF policy on tools and base URLs, no model loaded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from voxplane.agents.schema import AgentConfig
from voxplane.errors import ConfigError, NotFoundError
from voxplane.providers.llm.anthropic_chat import AnthropicLLM
from voxplane.providers.llm.brain import LlmBrain
from voxplane.providers.llm.openai_chat import OpenAiLLM
from voxplane.runtime.factory import ProviderFactory

TOOL = {
    "type": "http",
    "name": "lookup",
    "url": "https://api.acme.example/orders",
    "auth": {"credential": "acme-api"},
}


def agent(**brain: Any) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "name": "llm",
            "stt": {"provider": "scripted", "transcripts": ["hi"]},
            "tts": {"provider": "scripted"},
            "turn": {"vad": "energy"},
            "call": {"first_message": "Hello from the call section."},
            "brain": {
                "type": "llm",
                "provider": "anthropic",
                "model": "claude-x",
                "credential": "anthropic-prod",
                "prompt": "Be brief.",
                "first_message": "Hello from the brain.",
                **brain,
            },
        }
    )


TENANT = "ten_1"


def factory(store: TenantStore, *, allow_private: bool = False) -> ProviderFactory:
    """The factory of ``voxplane serve``, over the tenant's stored credentials."""
    return ProviderFactory(credentials=store, allow_private_networks=allow_private)  # type: ignore[arg-type]


class TenantStore:
    """The tenant's stored credentials, as CredentialService.reveal gives them."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.asked: list[str] = []

    async def reveal(self, tenant_id: str, name: str) -> str:
        assert tenant_id == TENANT
        self.asked.append(name)
        if name not in self.secrets:
            raise NotFoundError("no such credential")
        return self.secrets[name]


def test_keys_come_from_the_tenants_stored_credentials_by_name() -> None:
    store = TenantStore({"anthropic-prod": "sk-ant-1", "acme-api": "tok-2"})
    parts = asyncio.run(factory(store).build(agent(tools=[TOOL]), TENANT))
    brain = parts.brain
    assert isinstance(brain, LlmBrain)
    assert isinstance(brain.llm.inner, AnthropicLLM)
    assert brain._tools._secrets == {"lookup": "tok-2"}
    assert store.asked == ["anthropic-prod", "acme-api"]

    greeting = asyncio.run(_text(brain))
    assert greeting == "Hello from the call section."  # call.first_message wins


async def _text(brain: LlmBrain) -> str:
    return "".join([getattr(e, "text", "") async for e in brain.greet()])


def test_a_missing_credential_names_the_field() -> None:
    store = TenantStore({"anthropic-prod": "sk-ant-1"})
    with pytest.raises(ConfigError, match=r"brain\.tools\[0\]\.auth\.credential: no credential"):
        asyncio.run(factory(store).build(agent(tools=[TOOL]), TENANT))


def test_the_server_holds_tool_and_model_urls_to_the_ssrf_policy() -> None:
    store = TenantStore({"anthropic-prod": "k", "acme-api": "t"})
    local_tool = TOOL | {"url": "http://127.0.0.1:8080/orders"}
    with pytest.raises(ConfigError, match=r"brain\.tools\[0\]\.url: .*loopback"):
        asyncio.run(factory(store).build(agent(tools=[local_tool]), TENANT))
    local_model = agent(provider="openai", base_url="http://10.1.2.3/v1", credential=None)
    with pytest.raises(ConfigError, match=r"brain\.base_url: .*private"):
        asyncio.run(factory(store).build(local_model, TENANT))
    allowed = factory(store, allow_private=True)
    parts = asyncio.run(allowed.build(local_model, TENANT))
    assert isinstance(parts.brain, LlmBrain) and isinstance(parts.brain.llm.inner, OpenAiLLM)


def test_a_flow_with_llm_steps_gets_its_model_built_with_the_stored_key() -> None:
    from voxplane.providers.flow.brain import FlowBrain

    document = agent().model_dump(mode="json", exclude_none=True)
    document["brain"] = {
        "type": "flow",
        "start": "ask",
        "llm": {"provider": "anthropic", "model": "claude-x", "credential": "anthropic-prod"},
        "nodes": {
            "ask": {"say": "Question?", "llm": {"instructions": "Help."}, "next": "bye"},
            "bye": {"say": "Bye.", "action": {"type": "hangup"}},
        },
    }
    store = TenantStore({"anthropic-prod": "sk-ant-1"})
    parts = asyncio.run(factory(store).build(AgentConfig.model_validate(document), TENANT))
    assert isinstance(parts.brain, FlowBrain)
    assert isinstance(parts.brain._llm.inner, AnthropicLLM)
    assert store.asked == ["anthropic-prod"]
