"""Provider messages as their public documentation shows them (each block names its page);
only ids, text and audio bytes are changed. The wire-protocol tests replay them from
loopback servers."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

# --- Deepgram ---------------------------------------------------------------------------
# Source: https://developers.deepgram.com/reference/speech-to-text/listen-streaming
#         (Results, UtteranceEnd), https://developers.deepgram.com/docs/close-stream
#         (the Metadata answer to CloseStream) and https://developers.deepgram.com/docs/finalize
#         (the answer to Finalize has "from_finalize": true; it may be left out when little
#         audio was waiting).


def deepgram_results(
    text: str,
    *,
    is_final: bool,
    speech_final: bool = False,
    start: float = 0.0,
    duration: float = 1.98,
    from_finalize: bool = False,
) -> dict[str, Any]:
    """A Results message whose words share its stretch of audio evenly."""
    words = text.split()
    step = duration / max(1, len(words))
    return {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": duration,
        "start": start,
        "is_final": is_final,
        "speech_final": speech_final,
        "channel": {
            "alternatives": [
                {
                    "transcript": text,
                    "confidence": 0.99,
                    "words": [
                        {
                            "word": w.lower().strip(".,"),
                            "start": round(start + i * step, 3),
                            "end": round(start + (i + 1) * step, 3),
                            "confidence": 0.99,
                            "punctuated_word": w,
                        }
                        for i, w in enumerate(words)
                    ],
                }
            ]
        },
        "metadata": {
            "request_id": "8c8ebea9-dbec-45fa-a035-e4632cb05b5f",
            "model_info": {
                "name": "general-nova-3",
                "version": "2024-01-09.29447",
                "arch": "nova-3",
            },
            "model_uuid": "1dbdfb4d-85b2-4659-9c1a-1a2c7e5d0a32",
        },
        "from_finalize": from_finalize,
    }


DEEPGRAM_UTTERANCE_END = {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 2.395}
DEEPGRAM_METADATA = {
    "type": "Metadata",
    "transaction_key": "deprecated",
    "request_id": "8c8ebea9-dbec-45fa-a035-e4632cb05b5f",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "created": "2024-08-29T22:37:55.202Z",
    "duration": 0.0,
    "channels": 0,
}


# --- Cartesia ---------------------------------------------------------------------------
# Source: https://docs.cartesia.ai/api-reference/tts/websocket (chunk, timestamps, done,
#         error messages).


def cartesia_chunk(audio: bytes, context_id: str) -> dict[str, Any]:
    return {
        "type": "chunk",
        "data": base64.b64encode(audio).decode(),
        "done": False,
        "status_code": 206,
        "step_time": 123,
        "context_id": context_id,
    }


def cartesia_timestamps(context_id: str) -> dict[str, Any]:
    return {
        "type": "timestamps",
        "done": False,
        "status_code": 206,
        "context_id": context_id,
        "word_timestamps": {"words": ["Hello", "world"], "start": [0, 0.5], "end": [0.4, 0.9]},
    }


def cartesia_done(context_id: str) -> dict[str, Any]:
    return {"type": "done", "done": True, "status_code": 206, "context_id": context_id}


def cartesia_error(context_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "done": True,
        "error": "Invalid model: The model is not valid, make sure it is a valid model ID.",
        "status_code": 400,
        "context_id": context_id,
    }


def cartesia_cancel(context_id: str) -> dict[str, Any]:
    """The client's Cancel Context Request (same page, "Cancel Context Request")."""
    return {"context_id": context_id, "cancel": True}


# --- ElevenLabs -------------------------------------------------------------------------
# Source: https://elevenlabs.io/docs/api-reference/text-to-speech/v-1-text-to-speech-voice-id-stream-input
#         (AudioOutput with base64 audio, normalizedAlignment and alignment; FinalOutput).


def elevenlabs_audio(audio: bytes) -> dict[str, Any]:
    return {
        "audio": base64.b64encode(audio).decode(),
        "isFinal": None,
        "normalizedAlignment": {
            "charStartTimesMs": [0, 3, 7, 9, 11],
            "charsDurationsMs": [3, 4, 2, 2, 5],
            "chars": ["H", "e", "l", "l", "o"],
        },
        "alignment": {
            "charStartTimesMs": [0, 3, 7, 9, 11],
            "charsDurationsMs": [3, 4, 2, 2, 5],
            "chars": ["H", "e", "l", "l", "o"],
        },
    }


ELEVENLABS_FINAL = {"isFinal": True}
ELEVENLABS_ERROR = {
    "message": "Invalid voice_settings: stability must be between 0 and 1",
    "error": "invalid_request",
    "code": 1008,
}


# --- OpenAI -----------------------------------------------------------------------------
# Source: https://platform.openai.com/docs/api-reference/audio/createTranscription (the
#         json response) and https://platform.openai.com/docs/guides/error-codes (bodies).

OPENAI_TRANSCRIPTION = {"text": "I'd like to book a cleaning for Tuesday."}


def openai_error(status: int, key: str) -> dict[str, Any]:
    message, kind, code = {
        401: (f"Incorrect API key provided: {key}.", "invalid_request_error", "invalid_api_key"),
        429: ("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
        500: ("The server had an error while processing your request.", "server_error", None),
    }[status]
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# --- Azure --------------------------------------------------------------------------------
# Source: https://learn.microsoft.com/azure/ai-services/speech-service/rest-text-to-speech
#         (HTTP status codes: 400 bad request, 401 unauthorized, 429 too many requests,
#         502 bad gateway; the audio is the body).

AZURE_ERRORS = {401: b"", 429: b"Too many requests", 500: b"", 502: b"Bad gateway"}


def pcm_bytes(ms: int, rate: int, hz: float = 440.0) -> bytes:
    """A tone as little-endian 16-bit PCM (the audio the servers send)."""
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message)
