"""Cloud speech providers from their agent document entries (used by the factory)."""

from __future__ import annotations

import hashlib

import httpx

from voxplane.agents.speech import SttProviderConfig, TtsProviderConfig
from voxplane.providers.base import STT, TTS, StreamingSTT
from voxplane.providers.cloud import azure, cartesia, deepgram, elevenlabs, openai
from voxplane.providers.cloud.common import Endpoint
from voxplane.providers.cloud.deepgram_stream import DeepgramStreamingSTT

_DEFAULT_URLS = {
    "deepgram": deepgram.DEFAULT_URL,
    "openai": openai.DEFAULT_URL,
    "cartesia": cartesia.DEFAULT_URL,
    "elevenlabs": elevenlabs.DEFAULT_URL,
}


def endpoint(config: SttProviderConfig | TtsProviderConfig, key: str) -> Endpoint:
    if config.base_url:
        base = config.base_url
    elif isinstance(config, TtsProviderConfig) and config.provider == "azure":
        assert config.region is not None  # the schema requires region or base_url
        base = azure.region_url(config.region)
    else:
        base = _DEFAULT_URLS[config.provider]
    return Endpoint(key, base, config.timeout_s)


def account(config: SttProviderConfig | TtsProviderConfig, key: str) -> str:
    """Which account a provider entry uses, as a fingerprint (never the key): calls on the
    same key and endpoint share a circuit breaker."""
    digest = hashlib.sha256(f"{config.base_url or ''}\n{key}".encode())
    return digest.hexdigest()[:16]


def cloud_stt(config: SttProviderConfig, key: str, http: httpx.AsyncClient | None = None) -> STT:
    """The adapter for ``config``; REST ones send through ``http`` when given (the
    process's client, whose TLS connections stay open between requests)."""
    where = endpoint(config, key)
    match config.provider:
        case "deepgram":
            return deepgram.DeepgramSTT(where, _deepgram_options(config))
        case "openai":
            model = config.model or openai.DEFAULT_STT_MODEL
            return openai.OpenAISTT(where, model, config.language, http)
    raise ValueError(f"not a cloud STT provider: {config.provider}")


def cloud_streaming_stt(config: SttProviderConfig, key: str) -> StreamingSTT | None:
    """The provider's streaming recognizer for a whole call (one socket per call), when it
    has one; None: transcribe each utterance with :func:`cloud_stt`."""
    if config.provider == "deepgram":
        return DeepgramStreamingSTT(endpoint(config, key), _deepgram_options(config))
    return None


def _deepgram_options(config: SttProviderConfig) -> deepgram.DeepgramOptions:
    return deepgram.DeepgramOptions(
        model=config.model or deepgram.DEFAULT_MODEL,
        language=config.language,
        endpointing_ms=config.endpointing_ms,
    )


def cloud_tts(config: TtsProviderConfig, key: str, http: httpx.AsyncClient | None = None) -> TTS:
    """The adapter for ``config`` (``http`` as for :func:`cloud_stt`)."""
    where = endpoint(config, key)
    match config.provider:
        case "cartesia":
            voice = cartesia.CartesiaVoice(
                config.voice or cartesia.DEFAULT_VOICE,
                config.model or cartesia.DEFAULT_MODEL,
                config.language or "en",
            )
            return cartesia.CartesiaTTS(where, voice)
        case "elevenlabs":
            eleven = elevenlabs.ElevenLabsVoice(
                config.voice or elevenlabs.DEFAULT_VOICE,
                config.model or elevenlabs.DEFAULT_MODEL,
                config.speed,
            )
            return elevenlabs.ElevenLabsTTS(where, eleven)
        case "azure":
            ssml_voice = azure.AzureVoice(
                config.voice or azure.DEFAULT_VOICE, config.language or "en-US", config.speed
            )
            return azure.AzureTTS(where, ssml_voice, http)
        case "openai":
            spoken = openai.OpenAIVoice(
                config.model or openai.DEFAULT_TTS_MODEL,
                config.voice or openai.DEFAULT_VOICE,
                config.speed,
            )
            return openai.OpenAITTS(where, spoken, http)
    raise ValueError(f"not a cloud TTS provider: {config.provider}")
