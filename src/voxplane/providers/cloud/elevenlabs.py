"""ElevenLabs text to speech over its stream-input websocket.

Wire protocol (https://elevenlabs.io/docs/api-reference/text-to-speech/v-1-text-to-speech-voice-id-stream-input):
``wss://api.elevenlabs.io/v1/text-to-speech/{voice_id}/stream-input?model_id=…&output_format=pcm_16000``
with the ``xi-api-key`` header. The client sends ``{"text": " "}`` to open the stream (with
``voice_settings``), then text (``{"text": "Hello. ", "flush": true}`` makes it speak what it
has), then ``{"text": ""}`` to end it. The server answers ``{"audio": base64, "isFinal":
null, "normalizedAlignment": …, "alignment": …}`` messages and finally ``{"isFinal":
true}``. Errors come as a message with an ``error`` / ``message`` field, or as the socket
closing (1008 for a refused key or bad input); a refused key may also fail the handshake.

Each text still opens a socket of its own, unlike Cartesia's adapter: this endpoint carries
one stream per socket. Keeping one socket per call means the other endpoint,
``multi-stream-input`` (a ``context_id`` per stream, ``close_context``), which does not fit
a call's socket cleanly as documented: an error there (bad input, a sixth open context:
at most 5 per socket, and a barge-in's ``close_context`` is not acknowledged) closes the
socket with every context on it, rather than failing one; the socket closes after
``inactivity_timeout`` (20 s by default, 180 s at most) without a message, i.e. during any
longer caller turn, unless the call sends keep-alives; and the documented end-of-context
message is spelled both ``isFinal`` and ``is_final``. Worth doing against the real service.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame
from voxplane.providers.base import TTS, TtsCapabilities
from voxplane.providers.cloud.common import (
    Endpoint,
    PcmAssembler,
    excerpt,
    open_socket,
    parse_json,
    protocol_error,
    receive,
    send,
)

NAME = "elevenlabs"
DEFAULT_URL = "wss://api.elevenlabs.io"
DEFAULT_MODEL = "eleven_flash_v2_5"
DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM"
"""The voice id of ElevenLabs' documentation examples."""
SAMPLE_RATE = 16_000
_RETRYABLE_WORDS = ("rate", "busy", "capacity", "timeout", "unavailable", "internal")


@dataclass(frozen=True, slots=True)
class ElevenLabsVoice:
    voice: str = DEFAULT_VOICE
    model: str = DEFAULT_MODEL
    speed: float = 1.0


def stream_path(voice: ElevenLabsVoice) -> str:
    query = urlencode({"model_id": voice.model, "output_format": f"pcm_{SAMPLE_RATE}"})
    return f"/v1/text-to-speech/{quote(voice.voice, safe='')}/stream-input?{query}"


def message_error(message: dict[str, Any], secret: str) -> ProviderError:
    text = str(message.get("message") or message.get("error") or "")
    retryable = any(word in text.lower() for word in _RETRYABLE_WORDS)
    return ProviderError(f"{NAME} failed: {excerpt(text, secret)}", retryable=retryable)


def decode_audio(data: object) -> bytes:
    if not isinstance(data, str):
        raise protocol_error(NAME, "audio that is not a base64 string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise protocol_error(NAME, "audio data that is not base64") from None


class ElevenLabsTTS(TTS):
    """One stream per text: open, send the text with ``flush``, end, read to ``isFinal``."""

    def __init__(self, endpoint: Endpoint, voice: ElevenLabsVoice | None = None) -> None:
        self.capabilities = TtsCapabilities(streaming=True, sample_rate=SAMPLE_RATE)
        self._endpoint = endpoint
        self._voice = voice or ElevenLabsVoice()

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        url = self._endpoint.url(stream_path(self._voice))
        headers = {"xi-api-key": self._endpoint.api_key}
        opening = {"text": " ", "voice_settings": {"speed": self._voice.speed}}
        pcm = PcmAssembler()
        async with open_socket(NAME, url, headers, self._endpoint) as socket:
            await send(NAME, socket, json.dumps(opening))
            await send(NAME, socket, json.dumps({"text": text.strip() + " ", "flush": True}))
            await send(NAME, socket, json.dumps({"text": ""}))
            while True:
                raw = await receive(NAME, socket, self._endpoint, "audio")
                if not isinstance(raw, str):
                    raise protocol_error(NAME, "binary data where JSON was expected")
                message = parse_json(NAME, raw)
                if message.get("audio"):
                    samples = pcm.push(decode_audio(message["audio"]))
                    if len(samples):
                        yield AudioFrame(samples, SAMPLE_RATE)
                elif "error" in message or ("message" in message and "audio" not in message):
                    raise message_error(message, self._endpoint.api_key)
                if message.get("isFinal") is True:
                    return
                if not {"audio", "isFinal"} & message.keys():
                    raise protocol_error(NAME, "a message with neither audio nor isFinal")
