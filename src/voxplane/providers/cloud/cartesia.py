"""Cartesia text to speech over its websocket (``/tts/websocket``).

Wire protocol (https://docs.cartesia.ai/api-reference/tts/websocket): headers ``X-API-Key``
and ``Cartesia-Version``; the client sends a generation request ``{"model_id",
"transcript", "voice": {"mode": "id", "id"}, "language", "context_id", "output_format":
{"container": "raw", "encoding": "pcm_s16le", "sample_rate"}, "continue": false}``; the
server answers messages of that ``context_id``: ``chunk`` (base64 ``data``), ``timestamps``,
``flush_done``, then ``done``, or ``error`` (``done: true`` with a ``status_code`` and an
``error`` / ``message``). ``{"context_id", "cancel": true}`` cancels a context: no more
messages are generated for it. A refused key fails the handshake with 401.

The socket multiplexes contexts, and Cartesia recommends many generations over one socket:
a call keeps one (:class:`~voxplane.providers.cloud.contexts.ContextSocket`), a context per
sentence, so only its first sentence waits for a handshake.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame
from voxplane.providers.base import TTS, TtsCapabilities
from voxplane.providers.cloud.common import (
    Endpoint,
    PcmAssembler,
    excerpt,
    protocol_error,
    status_error,
)
from voxplane.providers.cloud.contexts import ContextSocket, Message, Protocol

NAME = "cartesia"
DEFAULT_URL = "wss://api.cartesia.ai"
API_VERSION = "2025-04-16"
DEFAULT_MODEL = "sonic-2"
DEFAULT_VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"
"""The voice id of Cartesia's documentation examples."""
SAMPLE_RATE = 16_000


@dataclass(frozen=True, slots=True)
class CartesiaVoice:
    voice: str = DEFAULT_VOICE
    model: str = DEFAULT_MODEL
    language: str = "en"


def decode_audio(message: dict[str, Any]) -> bytes:
    data = message.get("data")
    if not isinstance(data, str):
        raise protocol_error(NAME, "a chunk without audio data")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise protocol_error(NAME, "audio data that is not base64") from None


def message_error(message: dict[str, Any], secret: str) -> ProviderError:
    status = message.get("status_code")
    text = str(message.get("error") or message.get("message") or message.get("title") or "")
    if isinstance(status, int) and status >= 400:
        return status_error(NAME, status, text, secret)
    return ProviderError(f"{NAME} failed: {excerpt(text, secret)}", retryable=True)


def context_of(message: Message) -> str | None:
    context_id = message.get("context_id")
    return context_id if isinstance(context_id, str) else None


def cancel(context_id: str) -> str:
    return json.dumps({"context_id": context_id, "cancel": True})


PROTOCOL = Protocol(NAME, context_of, cancel)


class CartesiaTTS(TTS):
    """One context per text on the call's socket; audio passed on chunk by chunk. One
    instance per call: :meth:`aclose` closes its socket."""

    def __init__(self, endpoint: Endpoint, voice: CartesiaVoice | None = None) -> None:
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=SAMPLE_RATE)
        self._endpoint = endpoint
        self._voice = voice or CartesiaVoice()
        headers = {"X-API-Key": endpoint.api_key, "Cartesia-Version": API_VERSION}
        self._socket = ContextSocket(PROTOCOL, endpoint.url("/tts/websocket"), headers, endpoint)

    def request(self, text: str, context_id: str) -> dict[str, Any]:
        return {
            "model_id": self._voice.model,
            "transcript": text,
            "voice": {"mode": "id", "id": self._voice.voice},
            "language": self._voice.language,
            "context_id": context_id,
            "output_format": {
                "container": "raw",
                "encoding": "pcm_s16le",
                "sample_rate": SAMPLE_RATE,
            },
            "continue": False,
        }

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        context_id = str(uuid.uuid4())
        pcm = PcmAssembler()
        request = json.dumps(self.request(text, context_id))
        async with self._socket.context(context_id, request) as context:
            while True:
                message = await self._socket.next(context)
                match message.get("type"):
                    case "chunk":
                        samples = pcm.push(decode_audio(message))
                        if len(samples):
                            yield AudioFrame(samples, SAMPLE_RATE)
                    case "error":
                        context.ended = True
                        raise message_error(message, self._endpoint.api_key)
                    case "done":
                        context.ended = True
                        return
                    case None:
                        raise protocol_error(NAME, "a message without a type")
                    case _:
                        pass  # timestamps, flush_done: not needed for audio

    async def aclose(self) -> None:
        await self._socket.aclose()
