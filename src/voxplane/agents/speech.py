"""The ``stt`` and ``tts`` sections of an agent document: which provider listens and which
speaks, how it is reached, and the providers to fall back on.

::

    stt:
      provider: deepgram            # whisper | scripted | deepgram | openai
      credential: deepgram-prod     # serve: a stored credential (default: the tenant's
                                    #   credential whose provider is "deepgram")
      # api_key_env: DEEPGRAM_API_KEY   talk only: a key from the environment
      # api_key: ...                    talk only: the key itself
      fallback:                     # tried in order when the one before fails
        - {provider: openai, api_key_env: OPENAI_API_KEY}
        - {provider: whisper}
      routing: {failures: 3, cooldown_s: 30, attempt_timeout_s: 4, prefer_fastest: false}

A fallback entry has the same fields as the section's provider part (no ``fallback``,
``routing`` or ``use_hints`` of its own).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class Strict(BaseModel):
    """Base for every section: unknown fields are rejected, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


SttProvider = Literal["whisper", "scripted", "deepgram", "openai"]
TtsProvider = Literal["piper", "scripted", "cartesia", "elevenlabs", "azure", "openai"]
LOCAL_PROVIDERS = frozenset({"whisper", "piper", "scripted"})

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_URL = r"^(https?|wss?)://[^\s/?#]+[^\s]*$"


class ProviderAccess(Strict):
    """How a cloud provider is reached. At most one of ``api_key``, ``api_key_env`` and
    ``credential``; with none, ``voxplane serve`` uses the tenant's stored credential
    whose ``provider`` is this provider's name."""

    api_key: SecretStr | None = Field(None, min_length=1, max_length=8192)
    """``voxplane talk`` only: an agent stored through the API may not hold a key."""
    api_key_env: str | None = Field(None, pattern=_ENV_NAME)
    """``voxplane talk`` only: the environment variable holding the key."""
    credential: str | None = Field(None, min_length=1, max_length=100)
    """``voxplane serve``: the name of one of the tenant's stored credentials."""
    base_url: str | None = Field(None, pattern=_URL, max_length=2048)
    """Another endpoint than the provider's public one (a proxy, a regional endpoint)."""
    timeout_s: float = Field(5.0, gt=0.0, le=60.0)
    """Connecting, and each wait for the provider's next message, give up after this."""

    def _check_access(self, provider: str) -> None:
        given = [n for n in ("api_key", "api_key_env", "credential") if getattr(self, n)]
        if len(given) > 1:
            raise ValueError(f"give one of {', '.join(given)}, not several")
        if provider in LOCAL_PROVIDERS and (given or self.base_url):
            raise ValueError(f"{provider} runs locally: it takes no key, credential or base_url")


class RoutingConfig(Strict):
    """How a section with ``fallback`` providers picks one (a circuit breaker each)."""

    failures: int = Field(3, ge=1, le=100)
    """Failures or timeouts in a row that open a provider's breaker (it is skipped)."""
    cooldown_s: float = Field(30.0, ge=0.1, le=3600.0)
    """After this, one request probes an open provider; success closes its breaker."""
    attempt_timeout_s: float = Field(4.0, gt=0.0, le=60.0)
    """A provider with no first result after this counts as failed; the next one is tried."""
    prefer_fastest: bool = False
    """Try the healthy provider with the lowest recent time to first result first."""


class SttProviderConfig(ProviderAccess):
    provider: SttProvider = "whisper"
    """``scripted`` is a benchmarking aid: every caller utterance gets a fixed transcript."""
    model: str | None = Field(None, min_length=1, max_length=100)
    """Default per provider: whisper ``tiny.en`` (the only one), deepgram ``nova-3``,
    openai ``gpt-4o-mini-transcribe``."""
    language: str = Field("en", min_length=2, max_length=35)
    transcripts: tuple[str, ...] = ()
    """``scripted`` only: the transcript of each caller utterance in turn (the last repeats)."""
    endpointing_ms: int = Field(300, ge=10, le=5000)
    """deepgram: silence after which Deepgram finalizes what it heard."""

    @model_validator(mode="after")
    def _check(self) -> SttProviderConfig:
        if (self.provider == "scripted") != bool(self.transcripts):
            raise ValueError("'transcripts' is required with, and only with, provider: scripted")
        if self.provider == "whisper" and self.model not in (None, "tiny.en"):
            raise ValueError("whisper runs model tiny.en only")
        self._check_access(self.provider)
        return self


class SttConfig(SttProviderConfig):
    use_hints: bool = True
    """Bias transcription toward what the brain expects (digits, yes/no, names)."""
    fallback: tuple[SttProviderConfig, ...] = Field((), max_length=4)
    """Providers tried in order when the one before fails or is skipped (breaker open)."""
    routing: RoutingConfig = RoutingConfig()


class TtsProviderConfig(ProviderAccess):
    provider: TtsProvider = "piper"
    """``scripted`` is a benchmarking aid: pre-synthesized audio, ``ms_per_word`` per word."""
    voice: str | None = Field(None, min_length=1, max_length=200)
    """Default per provider: piper ``joe`` (the only one), cartesia and elevenlabs a voice
    id from their documentation, azure ``en-US-AvaMultilingualNeural``, openai ``alloy``."""
    model: str | None = Field(None, min_length=1, max_length=100)
    language: str | None = Field(None, min_length=2, max_length=35)
    """cartesia ``en``, azure ``en-US`` (the SSML ``xml:lang``) unless given."""
    region: str | None = Field(None, pattern=r"^[a-z0-9]{2,40}$")
    """azure: the Speech resource's region (``eastus``), unless ``base_url`` is given."""
    speed: float = Field(1.0, ge=0.5, le=2.0)
    loudness_dbfs: float = Field(-20.0, ge=-40.0, le=-6.0)
    """piper: every sentence is brought to this RMS level."""
    ms_per_word: int = Field(300, ge=20, le=2000)
    """``scripted`` only: how long each word of the answer lasts."""

    @model_validator(mode="after")
    def _check(self) -> TtsProviderConfig:
        if self.provider == "piper" and self.voice not in (None, "joe"):
            raise ValueError("piper speaks voice joe only")
        if self.provider == "azure" and not (self.region or self.base_url):
            raise ValueError("azure needs 'region' (or 'base_url')")
        self._check_access(self.provider)
        return self


class TtsConfig(TtsProviderConfig):
    fallback: tuple[TtsProviderConfig, ...] = Field((), max_length=4)
    """Providers tried in order when the one before fails or is skipped (breaker open)."""
    routing: RoutingConfig = RoutingConfig()


def provider_entries(stt: SttConfig, tts: TtsConfig) -> list[tuple[str, str, ProviderAccess]]:
    """(field path, provider name, access fields) of every STT and TTS provider, fallbacks
    included: ``("stt", "deepgram", …)``, ``("tts.fallback[0]", "piper", …)``."""
    found: list[tuple[str, str, ProviderAccess]] = [("stt", stt.provider, stt)]
    found += [(f"stt.fallback[{i}]", f.provider, f) for i, f in enumerate(stt.fallback)]
    found.append(("tts", tts.provider, tts))
    found += [(f"tts.fallback[{i}]", f.provider, f) for i, f in enumerate(tts.fallback)]
    return found


def inline_secret_fields(stt: SttConfig, tts: TtsConfig) -> list[str]:
    """Where a document holds a key or names an environment variable (``stt.api_key``,
    ``tts.fallback[0].api_key_env``): refused for agents stored through the API, whose
    keys live in the tenant's encrypted credentials."""
    return [
        f"{where}.{name}"
        for where, _provider, access in provider_entries(stt, tts)
        for name in ("api_key", "api_key_env")
        if getattr(access, name)
    ]


def without_inline_keys(document: dict[str, Any]) -> dict[str, Any]:
    """A dumped agent document with its ``api_key`` and ``api_key_env`` fields emptied (a
    copy): what may be stored on a server, whose calls use the tenant's credentials."""
    clean = copy.deepcopy(document)
    for section in ("stt", "tts"):
        part = clean.get(section)
        if isinstance(part, dict):
            for entry in [part, *part.get("fallback", ())]:
                if isinstance(entry, dict):
                    entry.update({k: None for k in ("api_key", "api_key_env") if k in entry})
    return clean
