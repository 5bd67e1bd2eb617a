"""OpenAI speech to text and text to speech over REST (also any server that speaks the
same API).

- ``POST {base}/audio/transcriptions`` (https://platform.openai.com/docs/api-reference/audio/createTranscription):
  multipart ``file`` (a WAV here), ``model``, ``language``, ``prompt``,
  ``response_format=json``; answers ``{"text": "..."}``.
- ``POST {base}/audio/speech`` (https://platform.openai.com/docs/api-reference/audio/createSpeech):
  JSON ``model``, ``input``, ``voice``, ``response_format=pcm``, ``speed``; answers raw
  24 kHz signed 16-bit little-endian mono PCM, streamed as it is generated.

Errors come back as an HTTP status with ``{"error": {"message": ...}}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.media.wav import encode_wav
from voxplane.providers.base import (
    STT,
    TTS,
    SttCapabilities,
    SttHint,
    Transcript,
    TtsCapabilities,
)
from voxplane.providers.cloud.common import (
    Endpoint,
    PcmAssembler,
    http_failure,
    http_session,
    parse_json,
    protocol_error,
    raise_for_status,
    request_timeout,
    timeout_error,
)

NAME = "openai"
DEFAULT_URL = "https://api.openai.com/v1"
DEFAULT_STT_MODEL = "gpt-4o-mini-transcribe"
DEFAULT_TTS_MODEL = "gpt-4o-mini-tts"
DEFAULT_VOICE = "alloy"
SPEECH_RATE = 24_000
"""``response_format: pcm`` is always 24 kHz."""
_MAX_PROMPT_CHARS = 800


def _auth(endpoint: Endpoint) -> dict[str, str]:
    return {"Authorization": f"Bearer {endpoint.api_key}"}


class OpenAISTT(STT):
    """One transcription request per utterance."""

    capabilities = SttCapabilities(streaming=False, hints=True)

    def __init__(
        self,
        endpoint: Endpoint,
        model: str = DEFAULT_STT_MODEL,
        language: str = "en",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._model = model
        self._language = language
        self._client = client

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        form = {"model": self._model, "language": self._language, "response_format": "json"}
        if hint is not None and (hint.prompt or hint.phrases):
            form["prompt"] = (hint.prompt or ", ".join(hint.phrases))[:_MAX_PROMPT_CHARS]
        files = {"file": ("audio.wav", encode_wav(samples, self.sample_rate), "audio/wav")}
        url = self._endpoint.url("/audio/transcriptions")
        try:
            async with (
                http_session(self._endpoint, self._client) as client,
                asyncio.timeout(self._endpoint.timeout_s),
            ):
                response = await client.post(
                    url,
                    data=form,
                    files=files,
                    headers=_auth(self._endpoint),
                    timeout=request_timeout(self._endpoint),
                )
                await raise_for_status(NAME, response, self._endpoint.api_key)
        except TimeoutError:
            raise timeout_error(NAME, "transcription") from None
        except httpx.HTTPError as error:
            raise http_failure(NAME, error) from None
        text = parse_json(NAME, response.content).get("text")
        if not isinstance(text, str):
            raise protocol_error(NAME, "a transcription without 'text'")
        return Transcript(text.strip(), 1000 * len(samples) / self.sample_rate)


@dataclass(frozen=True, slots=True)
class OpenAIVoice:
    model: str = DEFAULT_TTS_MODEL
    voice: str = DEFAULT_VOICE
    speed: float = 1.0


class OpenAITTS(TTS):
    """Streams the PCM of ``/audio/speech`` as it arrives."""

    def __init__(
        self,
        endpoint: Endpoint,
        voice: OpenAIVoice | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=SPEECH_RATE)
        self._endpoint = endpoint
        self._voice = voice or OpenAIVoice()
        self._client = client

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        body = {
            "model": self._voice.model,
            "input": text,
            "voice": self._voice.voice,
            "response_format": "pcm",
            "speed": self._voice.speed,
        }
        url = self._endpoint.url("/audio/speech")
        pcm = PcmAssembler()
        try:
            async with (
                http_session(self._endpoint, self._client) as client,
                client.stream(
                    "POST",
                    url,
                    json=body,
                    headers=_auth(self._endpoint),
                    timeout=request_timeout(self._endpoint),
                ) as response,
            ):
                await raise_for_status(NAME, response, self._endpoint.api_key)
                if "json" in response.headers.get("content-type", ""):
                    raise protocol_error(NAME, "JSON where audio was expected")
                async for data in response.aiter_bytes():
                    samples = pcm.push(data)
                    if len(samples):
                        yield AudioFrame(samples, SPEECH_RATE)
        except httpx.HTTPError as error:
            raise http_failure(NAME, error) from None
