"""Calls under the runtime with cloud speech: the keys come from the tenant's encrypted
credentials (by name, or by provider), the provider is a real HTTP server on loopback, and
an agent whose key or endpoint cannot be used is refused with nothing held."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from test_runtime import caller, control_plane, inbound, runtime_of
from test_talk_cloud import SpeechServer

from voxplane.agents.schema import AgentConfig
from voxplane.runtime.calls import CallRefused, CallRuntime
from voxplane.runtime.factory import ProviderFactory
from voxplane.services.platform import Platform
from voxplane.services.principal import system_principal
from voxplane.services.schemas import CredentialCreate, PhoneNumberCreate, TenantCreate
from voxplane.settings import Settings

KEY = "sk-stored-5be2a9"


@pytest.fixture
def speech_url() -> Iterator[tuple[SpeechServer, str]]:
    server = SpeechServer()
    with server as url:
        yield server, url


def cloud_agent(url: str) -> dict[str, Any]:
    return {
        "name": "cloud",
        "stt": {"provider": "openai", "base_url": f"{url}/v1", "credential": "openai-prod"},
        "tts": {"provider": "openai", "base_url": f"{url}/v1"},  # the tenant's openai key
        "turn": {"vad": "energy"},
        "brain": {"type": "scripted", "greeting": "Hello.", "reply": "Booked.", "hang_up_after": 1},
    }


async def tenant_with(
    platform: Platform, agent: dict[str, Any], credential: str | None
) -> tuple[str, str]:
    """A tenant whose number routes to ``agent``, stored while the tenant held the
    ``openai-prod`` credential (the API refuses an agent whose keys are missing); by the
    call, its only credential is ``credential`` (none: it was deleted since)."""
    name = f"t-{secrets.token_hex(4)}"
    body = TenantCreate(name=name, email=f"o@{name}.test", password="a long secret")
    tenant = (await platform.tenants.create(body)).tenant_id
    owner = system_principal(tenant)

    async def store(name: str) -> str:
        made = CredentialCreate(name=name, provider="openai", secret=SecretStr(KEY))
        return (await platform.credentials.create(owner, made)).id

    first = await store("openai-prod")
    created = await platform.agents.create(owner, AgentConfig.model_validate(agent))
    if credential != "openai-prod":
        await platform.credentials.delete(owner, first)
        if credential is not None:
            await store(credential)
    number = f"+1555{secrets.randbelow(10**7):07d}"
    await platform.numbers.create(owner, PhoneNumberCreate(number=number, agent_id=created.id))
    return tenant, number


def runtime(factory: ProviderFactory, platform: Platform) -> CallRuntime:
    return runtime_of(platform, factory)


def factory_of(platform: Platform, *, allow_private: bool) -> ProviderFactory:
    return ProviderFactory(credentials=platform.credentials, allow_private_networks=allow_private)


def test_a_call_uses_the_tenants_stored_key(
    settings: Settings, speech_url: tuple[SpeechServer, str]
) -> None:
    server, url = speech_url

    async def main() -> list[str]:
        async with control_plane(settings) as platform:
            tenant, number = await tenant_with(platform, cloud_agent(url), "openai-prod")
            factory = factory_of(platform, allow_private=True)
            calls = runtime(factory, platform)
            try:
                outcome = await calls.run(await calls.admit(inbound(number)), caller(800))
            finally:
                await factory.aclose()  # the REST client the call's providers shared
            assert outcome.recorded
            call = await platform.calls.get(system_principal(tenant), outcome.call_id)
            return [t.text for t in call.turns]

    turns = asyncio.run(main())
    assert turns == ["Hello.", "I'd like to book a cleaning.", "Booked."]
    assert {auth for _kind, auth in server.requests} == {f"Bearer {KEY}"}


@pytest.mark.parametrize(
    ("credential", "allow_private"),
    [
        (None, True),  # no credential named openai-prod, none of provider openai
        ("other-name", True),  # the stt's credential by that name is missing
        ("openai-prod", False),  # the loopback base_url fails the SSRF policy
    ],
)
def test_an_agent_that_cannot_reach_its_provider_is_refused_with_nothing_held(
    settings: Settings,
    speech_url: tuple[SpeechServer, str],
    credential: str | None,
    allow_private: bool,
) -> None:
    server, url = speech_url

    async def main() -> None:
        async with control_plane(settings) as platform:
            tenant, number = await tenant_with(platform, cloud_agent(url), credential)
            factory = factory_of(platform, allow_private=allow_private)
            calls = runtime(factory, platform)
            with pytest.raises(CallRefused) as refused:
                await calls.admit(inbound(number))
            await factory.aclose()
            assert (refused.value.reason, refused.value.sip_status) == ("unavailable", 503)
            assert calls.active_calls == 0 and await platform.calls.active(tenant) == 0

    asyncio.run(main())
    assert server.requests == []
