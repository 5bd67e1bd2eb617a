"""Cloud providers in the agent document: the schema, where keys come from (talk: inline or
environment; serve: stored credentials), and what the factory builds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from voxplane.agents.loader import load_agent_file, parse_agent
from voxplane.agents.schema import AgentConfig
from voxplane.agents.speech import inline_secret_fields, without_inline_keys
from voxplane.cli.main import main
from voxplane.errors import ConfigError, NotFoundError
from voxplane.providers.cloud.azure import AzureTTS
from voxplane.providers.cloud.cartesia import CartesiaTTS
from voxplane.providers.cloud.deepgram import DeepgramSTT
from voxplane.providers.cloud.deepgram_stream import DeepgramStreamingSTT
from voxplane.providers.cloud.openai import OpenAISTT
from voxplane.providers.fallback import FallbackSTT, FallbackTTS
from voxplane.providers.scripted import FixedTranscriptSTT, PresynthesizedTTS
from voxplane.runtime.endpoints import check_policy
from voxplane.runtime.factory import ProviderFactory, build_parts, needs_local_models
from voxplane.runtime.keys import InlineKeys, StoredKeys, resolve_keys

BASE = """
name: cloud
turn: {vad: energy}
brain: {type: scripted, reply: Okay.}
"""

CLOUD = (
    BASE
    + """
stt:
  provider: deepgram
  api_key_env: DG_KEY
  fallback:
    - {provider: openai, api_key: sk-inline}
    - {provider: scripted, transcripts: [hello]}
  routing: {failures: 2, cooldown_s: 5, attempt_timeout_s: 1.5, prefer_fastest: true}
tts:
  provider: cartesia
  api_key_env: CARTESIA_KEY
  voice: 9f1c2e3a-voice
  fallback:
    - {provider: azure, region: westeurope, api_key_env: AZURE_KEY}
"""
)
ENV = {"DG_KEY": "dg-secret", "CARTESIA_KEY": "ca-secret", "AZURE_KEY": "az-secret"}


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("stt: {provider: assemblyai}", "stt.provider"),
        ("stt: {provider: deepgram, api_key: a, api_key_env: B}", "not several"),
        ("stt: {provider: whisper, api_key: abc}", "runs locally"),
        ("tts: {provider: azure, api_key_env: K}", "region"),
        ("tts: {provider: piper, voice: nova}", "voice joe only"),
        ("stt: {provider: openai, base_url: 'ftp://x'}", "stt.base_url"),
        ("stt: {provider: deepgram, fallback: [{provider: nope}]}", "stt.fallback[0].provider"),
        ("tts: {provider: openai, routing: {failures: 0}}", "tts.routing.failures"),
    ],
)
def test_bad_provider_sections_name_the_field(section: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_agent(BASE + section, source="agent.yaml")
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_inline_keys_come_from_the_file_or_the_environment() -> None:
    agent = parse_agent(CLOUD)
    keys = asyncio.run(resolve_keys(agent, InlineKeys(ENV)))
    assert keys == {
        "stt": "dg-secret",
        "stt.fallback[0]": "sk-inline",
        "tts": "ca-secret",
        "tts.fallback[0]": "az-secret",
    }
    assert inline_secret_fields(agent.stt, agent.tts) == [
        "stt.api_key_env",
        "stt.fallback[0].api_key",
        "tts.api_key_env",
        "tts.fallback[0].api_key_env",
    ]


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("stt: {provider: deepgram, api_key_env: NOT_SET}", "stt.api_key_env: NOT_SET is not set"),
        ("stt: {provider: deepgram}", "stt: deepgram needs api_key or api_key_env"),
        ("tts: {provider: openai, credential: prod}", "tts.credential: stored credentials"),
    ],
)
def test_talk_refuses_a_missing_key_naming_the_field(section: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        asyncio.run(resolve_keys(parse_agent(BASE + section), InlineKeys({})))


class ScriptedCredentials:
    """A scripted stand-in for the credential service: one tenant's sealed secrets."""

    def __init__(self, named: dict[str, tuple[str, str]]) -> None:
        self.named = named  # name -> (provider, secret)
        self.asked: list[tuple[str, str]] = []

    async def reveal(self, tenant_id: str, name: str) -> str:
        self.asked.append((tenant_id, name))
        if name not in self.named:
            raise NotFoundError("no such credential")
        return self.named[name][1]

    async def reveal_provider(self, tenant_id: str, provider: str) -> list[str]:
        self.asked.append((tenant_id, provider))
        return [secret for p, secret in self.named.values() if p == provider]


def test_serve_takes_keys_from_the_tenants_credentials() -> None:
    store = ScriptedCredentials({"dg-prod": ("deepgram", "dg-1"), "tts": ("cartesia", "ca-1")})
    text = BASE + "stt: {provider: deepgram, credential: dg-prod}\ntts: {provider: cartesia}"
    keys = asyncio.run(resolve_keys(parse_agent(text), StoredKeys(store, "ten_1")))
    assert keys == {"stt": "dg-1", "tts": "ca-1"}
    assert store.asked == [("ten_1", "dg-prod"), ("ten_1", "cartesia")]


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("stt: {provider: deepgram, credential: gone}", "stt.credential: no credential named"),
        ("stt: {provider: deepgram}", "stt: no stored credential of provider 'deepgram'"),
        ("stt: {provider: deepgram, api_key_env: HOME}", "stt.api_key_env: use a stored"),
        ("stt: {provider: deepgram, api_key: abc}", "stt.api_key: use a stored"),
    ],
)
def test_serve_refuses_environment_inline_and_missing_keys(section: str, says: str) -> None:
    source = StoredKeys(ScriptedCredentials({}), "ten_1")
    with pytest.raises(ConfigError, match=says):
        asyncio.run(resolve_keys(parse_agent(BASE + section), source))


def test_the_factory_builds_fallbacks_with_shared_breakers() -> None:
    agent = parse_agent(CLOUD)
    assert not needs_local_models(agent)
    keys = asyncio.run(resolve_keys(agent, InlineKeys(ENV)))
    factory = ProviderFactory()
    first = build_parts(agent, None, keys=keys, board=factory.board)
    second = build_parts(agent, None, keys=keys, board=factory.board)
    assert isinstance(first.stt, FallbackSTT) and isinstance(first.tts, FallbackTTS)
    stts = [type(m.provider) for m in first.stt.router.members]
    assert stts == [DeepgramSTT, OpenAISTT, FixedTranscriptSTT]
    assert [type(m.provider) for m in first.tts.router.members] == [CartesiaTTS, AzureTTS]
    assert first.stt.router.policy.prefer_fastest
    # calls on the same account share a breaker; another key is another breaker
    assert first.stt.router.members[0].breaker is second.stt.router.members[0].breaker
    other = build_parts(agent, None, keys={**keys, "stt": "dg-other"}, board=factory.board)
    assert other.stt.router.members[0].breaker is not first.stt.router.members[0].breaker


def test_a_single_provider_is_not_wrapped() -> None:
    text = BASE + "stt: {provider: scripted, transcripts: [hi]}\ntts: {provider: scripted}"
    parts = build_parts(parse_agent(text), None)
    assert isinstance(parts.stt, FixedTranscriptSTT) and isinstance(parts.tts, PresynthesizedTTS)


def test_deepgram_alone_streams_the_call_and_in_a_fallback_transcribes_per_utterance() -> None:
    alone = BASE + "stt: {provider: deepgram, api_key: dg-1}\ntts: {provider: scripted}"
    parts = build_parts(parse_agent(alone), None, keys={"stt": "dg-1"})
    assert isinstance(parts.stt, DeepgramStreamingSTT)
    fallback = (
        BASE
        + "stt: {provider: openai, api_key: sk-1, fallback: [{provider: deepgram, api_key: dg-1}]}"
        + "\ntts: {provider: scripted}"
    )
    keys = {"stt": "sk-1", "stt.fallback[0]": "dg-1"}
    parts = build_parts(parse_agent(fallback), None, keys=keys)
    assert isinstance(parts.stt, FallbackSTT)
    assert [type(m.provider) for m in parts.stt.router.members] == [OpenAISTT, DeepgramSTT]


def test_whisper_as_a_fallback_needs_the_local_models() -> None:
    text = BASE + "stt: {provider: deepgram, fallback: [{provider: whisper}]}"
    assert needs_local_models(parse_agent(text))


def test_a_factory_without_credentials_refuses_a_cloud_agent() -> None:
    agent = AgentConfig.model_validate(
        {**_document(BASE), "stt": {"provider": "openai", "credential": "x"}}
    )
    with pytest.raises(ConfigError, match="stt: openai needs a key"):
        asyncio.run(ProviderFactory().build(agent))


def test_talk_exits_2_naming_the_missing_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOXPLANE_TEST_NO_SUCH_KEY", raising=False)
    agent = tmp_path / "agent.yaml"
    agent.write_text(BASE + "stt: {provider: deepgram, api_key_env: VOXPLANE_TEST_NO_SUCH_KEY}")
    wav = tmp_path / "in.wav"
    wav.write_bytes(b"")
    code = main(["talk", "--agent", str(agent), "--input", str(wav)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "stt.api_key_env: VOXPLANE_TEST_NO_SUCH_KEY is not set" in err


def _document(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@pytest.mark.parametrize(
    ("url", "allow_private", "says"),
    [
        ("http://169.254.169.254/v1", True, "link-local"),
        ("ws://127.0.0.1:8080", False, "loopback"),
        ("https://10.1.2.3", False, "private"),
        ("wss://user:pw@example.test", True, "credentials"),
    ],
)
def test_serve_holds_base_urls_to_the_ssrf_policy(url: str, allow_private: bool, says: str) -> None:
    agent = parse_agent(BASE + f"tts: {{provider: openai, base_url: '{url}'}}")
    with pytest.raises(ConfigError, match=f"^tts.base_url: .*{says}"):
        asyncio.run(check_policy(agent, allow_private=allow_private))


def test_loopback_base_urls_pass_where_private_networks_are_allowed() -> None:
    agent = parse_agent(BASE + "tts: {provider: openai, base_url: 'ws://127.0.0.1:8080'}")
    asyncio.run(check_policy(agent, allow_private=True))


def test_talk_exits_2_naming_an_unreachable_base_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOXPLANE_TEST_KEY", "k")
    agent = tmp_path / "agent.yaml"
    agent.write_text(
        BASE + "tts: {provider: openai, api_key_env: VOXPLANE_TEST_KEY,"
        " fallback: [{provider: cartesia, api_key_env: VOXPLANE_TEST_KEY,"
        " base_url: 'ws://127.0.0.1:9'}]}"
    )
    code = main(["talk", "--agent", str(agent), "--input", str(tmp_path / "in.wav")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "tts.fallback[0].base_url: cannot reach ws://127.0.0.1:9 (ConnectError)" in err


def test_the_cloud_example_agent_loads_and_names_its_keys() -> None:
    example = Path(__file__).parents[3] / "examples" / "agents" / "cloud-receptionist.yaml"
    agent = load_agent_file(example)
    assert needs_local_models(agent)  # whisper and piper are its fallbacks
    with pytest.raises(ConfigError, match=r"stt\.api_key_env: DEEPGRAM_API_KEY is not set"):
        asyncio.run(resolve_keys(agent, InlineKeys({})))
    env = {"DEEPGRAM_API_KEY": "d", "OPENAI_API_KEY": "o", "CARTESIA_API_KEY": "c"}
    assert asyncio.run(resolve_keys(agent, InlineKeys(env))) == {
        "stt": "d",
        "stt.fallback[0]": "o",
        "tts": "c",
    }


def test_talk_records_to_a_server_without_its_keys() -> None:
    agent = parse_agent(CLOUD)
    document = agent.model_dump(mode="json", by_alias=True)
    stored = AgentConfig.model_validate(without_inline_keys(document))
    assert inline_secret_fields(stored.stt, stored.tts) == []
    assert "sk-inline" not in str(without_inline_keys(document))
    assert stored.stt.fallback[0].provider == "openai" and stored.tts.voice == "9f1c2e3a-voice"
    assert document["stt"]["api_key_env"] == "DG_KEY"  # the original is left alone
