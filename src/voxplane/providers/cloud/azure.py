"""Azure AI Speech text to speech over REST, with SSML.

``POST https://{region}.tts.speech.microsoft.com/cognitiveservices/v1``
(https://learn.microsoft.com/azure/ai-services/speech-service/rest-text-to-speech):
headers ``Ocp-Apim-Subscription-Key``, ``Content-Type: application/ssml+xml`` and
``X-Microsoft-OutputFormat: raw-16khz-16bit-mono-pcm``; the body is an SSML ``<speak>``
document naming the voice. The answer is the raw audio, streamed; errors are an HTTP status
(400 bad SSML, 401 bad key, 429 too many requests, 502/503 the service).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import httpx

from voxplane.media.frame import AudioFrame
from voxplane.providers.base import TTS, TtsCapabilities
from voxplane.providers.cloud.common import (
    Endpoint,
    PcmAssembler,
    http_failure,
    http_session,
    protocol_error,
    raise_for_status,
    request_timeout,
)

NAME = "azure"
DEFAULT_VOICE = "en-US-AvaMultilingualNeural"
OUTPUT_FORMAT = "raw-16khz-16bit-mono-pcm"
SAMPLE_RATE = 16_000


def region_url(region: str) -> str:
    return f"https://{region}.tts.speech.microsoft.com"


@dataclass(frozen=True, slots=True)
class AzureVoice:
    voice: str = DEFAULT_VOICE
    language: str = "en-US"
    speed: float = 1.0


def ssml(text: str, voice: AzureVoice) -> str:
    """The SSML document for ``text``; the text and names are escaped, never markup."""
    body = escape(text)
    if voice.speed != 1.0:
        body = f"<prosody rate={quoteattr(f'{voice.speed - 1.0:+.0%}')}>{body}</prosody>"
    return (
        f"<speak version='1.0' xml:lang={quoteattr(voice.language)}>"
        f"<voice name={quoteattr(voice.voice)}>{body}</voice></speak>"
    )


class AzureTTS(TTS):
    """One REST request per text; the audio is passed on as it arrives."""

    def __init__(
        self,
        endpoint: Endpoint,
        voice: AzureVoice | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=SAMPLE_RATE)
        self._endpoint = endpoint
        self._voice = voice or AzureVoice()
        self._client = client

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        headers = {
            "Ocp-Apim-Subscription-Key": self._endpoint.api_key,
            "Content-Type": "application/ssml+xml",
            "X-Microsoft-OutputFormat": OUTPUT_FORMAT,
        }
        url = self._endpoint.url("/cognitiveservices/v1")
        pcm = PcmAssembler()
        document = ssml(text, self._voice).encode()
        try:
            async with (
                http_session(self._endpoint, self._client) as client,
                client.stream(
                    "POST",
                    url,
                    content=document,
                    headers=headers,
                    timeout=request_timeout(self._endpoint),
                ) as response,
            ):
                await raise_for_status(NAME, response, self._endpoint.api_key)
                kind = response.headers.get("content-type", "")
                if kind.startswith(("application/json", "text/")):
                    raise protocol_error(NAME, f"{kind.split(';')[0]} where audio was expected")
                async for data in response.aiter_bytes():
                    samples = pcm.push(data)
                    if len(samples):
                        yield AudioFrame(samples, SAMPLE_RATE)
        except httpx.HTTPError as error:
            raise http_failure(NAME, error) from None
