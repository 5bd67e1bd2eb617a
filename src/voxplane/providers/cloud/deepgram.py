"""Deepgram live speech to text over its streaming websocket (``/v1/listen``).

Wire protocol (https://developers.deepgram.com/reference/speech-to-text/listen-streaming):
the client sends binary frames of raw ``linear16`` audio and JSON control messages
(``{"type": "Finalize"}`` flushes, ``{"type": "CloseStream"}`` ends, ``KeepAlive``); the
server answers ``Results`` (``is_final`` for a settled stretch, ``speech_final`` when its
endpointing heard the end of an utterance), ``UtteranceEnd``, ``SpeechStarted`` and, once
the stream is closed, ``Metadata``. Failures close the socket with a code and a reason
(1008 bad data or auth, 1011 a server error); a refused key fails the handshake with 401.

:class:`DeepgramLive` is the streaming client (push audio, read interim and final results);
:class:`DeepgramSTT` is the batch :class:`~voxplane.providers.base.STT` on top of it (one
socket per utterance: what a fallback chain uses). A call's streaming STT, one socket for
the whole call, is :mod:`voxplane.providers.cloud.deepgram_stream`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection

from voxplane.errors import ProviderError
from voxplane.media.frame import Pcm16
from voxplane.providers.base import STT, SttCapabilities, SttHint, Transcript
from voxplane.providers.cloud.common import (
    Endpoint,
    open_socket,
    parse_json,
    protocol_error,
    receive,
    send,
)

NAME = "deepgram"
DEFAULT_URL = "wss://api.deepgram.com"
DEFAULT_MODEL = "nova-3"
_PUSH_BYTES = 3200  # 100 ms of 16 kHz linear16: the frame size Deepgram recommends
_MAX_KEYTERMS = 50


@dataclass(frozen=True, slots=True)
class DeepgramOptions:
    model: str = DEFAULT_MODEL
    language: str = "en"
    endpointing_ms: int = 300
    sample_rate: int = 16_000


@dataclass(frozen=True, slots=True)
class Word:
    """One recognized word and where it lies in the stream's audio."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class LiveResult:
    """One ``Results`` message: interim (``is_final`` false) or a settled stretch.

    Times count seconds of audio sent on the socket; the final results tile it."""

    text: str
    is_final: bool
    speech_final: bool
    start_s: float
    duration_s: float
    words: tuple[Word, ...] = ()
    from_finalize: bool = False
    """Deepgram's answer to ``Finalize``: everything sent before it is now final."""


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    """Deepgram heard no new words for ``utterance_end_ms`` after the last one."""

    last_word_end_s: float


LiveEvent = LiveResult | UtteranceEnd


def listen_query(options: DeepgramOptions, hint: SttHint | None) -> str:
    params: list[tuple[str, str]] = [
        ("model", options.model),
        ("language", options.language),
        ("encoding", "linear16"),
        ("sample_rate", str(options.sample_rate)),
        ("channels", "1"),
        ("interim_results", "true"),
        ("endpointing", str(options.endpointing_ms)),
        ("utterance_end_ms", "1000"),
        ("punctuate", "true"),
        ("smart_format", "true"),
    ]
    if hint is not None and hint.phrases:
        # Nova-3 boosts "keyterm"s; earlier models take "keywords"
        name = "keyterm" if options.model.startswith("nova-3") else "keywords"
        params += [(name, phrase) for phrase in hint.phrases[:_MAX_KEYTERMS]]
    return urlencode(params)


def parse_event(message: dict[str, Any]) -> LiveEvent | None:
    """A server message as an event; ``None`` for those a transcript does not need
    (``Metadata``, ``SpeechStarted``, types added later)."""
    kind = message.get("type")
    if kind == "Results":
        try:
            alternative = message["channel"]["alternatives"][0]
            text = alternative["transcript"]
            start, duration = float(message.get("start", 0.0)), float(message["duration"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise protocol_error(NAME, "a Results message without a transcript") from None
        if not isinstance(text, str):
            raise protocol_error(NAME, "a transcript that is not text")
        final, speech_final = bool(message.get("is_final")), bool(message.get("speech_final"))
        words = _words(alternative.get("words") or [])
        return LiveResult(
            text, final, speech_final, start, duration, words, message.get("from_finalize") is True
        )
    if kind == "UtteranceEnd":
        try:
            return UtteranceEnd(float(message.get("last_word_end", 0.0)))
        except (TypeError, ValueError):
            raise protocol_error(NAME, "an UtteranceEnd without a time") from None
    if kind is None:
        raise protocol_error(NAME, "a message without a type")
    return None


def _words(words: list[Any]) -> tuple[Word, ...]:
    try:
        return tuple(
            Word(str(w.get("punctuated_word") or w["word"]), float(w["start"]), float(w["end"]))
            for w in words
        )
    except (KeyError, AttributeError, TypeError, ValueError):
        raise protocol_error(NAME, "a word without its text or times") from None


class DeepgramLive:
    """One live transcription stream: :meth:`push` audio, :meth:`finalize` to flush,
    :meth:`end` when the audio is over; iterate for results until the stream closes.

    ``async with DeepgramLive.open(endpoint, options) as live: ...``
    """

    def __init__(self, endpoint: Endpoint, options: DeepgramOptions, hint: SttHint | None):
        self._endpoint = endpoint
        self._options = options
        self._hint = hint
        self._exit = AsyncExitStack()
        self._socket: ClientConnection | None = None
        self._ended = False

    @classmethod
    def open(
        cls, endpoint: Endpoint, options: DeepgramOptions, hint: SttHint | None = None
    ) -> DeepgramLive:
        return cls(endpoint, options, hint)

    async def __aenter__(self) -> Self:
        url = self._endpoint.url("/v1/listen?" + listen_query(self._options, self._hint))
        headers = {"Authorization": f"Token {self._endpoint.api_key}"}
        self._socket = await self._exit.enter_async_context(
            open_socket(NAME, url, headers, self._endpoint)
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self._exit.__aexit__(kind, error, trace)

    @property
    def socket(self) -> ClientConnection:
        if self._socket is None:
            raise RuntimeError("use DeepgramLive in 'async with'")
        return self._socket

    async def push(self, samples: Pcm16) -> None:
        data = samples.astype("<i2").tobytes()
        for start in range(0, len(data), _PUSH_BYTES):
            await send(NAME, self.socket, data[start : start + _PUSH_BYTES])

    async def finalize(self) -> None:
        """Have Deepgram settle what it has heard so far (``Finalize``)."""
        await send(NAME, self.socket, json.dumps({"type": "Finalize"}))

    async def keep_alive(self) -> None:
        """Keep a stream with no audio for now open (Deepgram closes it after 10 s)."""
        await send(NAME, self.socket, json.dumps({"type": "KeepAlive"}))

    async def end(self) -> None:
        """No more audio (``CloseStream``): Deepgram answers the rest, then closes."""
        self._ended = True
        await send(NAME, self.socket, json.dumps({"type": "CloseStream"}))

    async def events(self, *, patient: bool = False) -> AsyncIterator[LiveEvent]:
        """Results as they come, until the stream ends (``Metadata`` after :meth:`end`).

        Each wait gives up after the endpoint's timeout unless ``patient`` (a call's stream,
        quiet while the caller is: a dead socket is found by websocket pings instead)."""
        while True:
            raw = await receive(
                NAME, self.socket, self._endpoint, "transcript", end_ok=self._ended, patient=patient
            )
            if raw is None:  # closed normally after CloseStream, without Metadata
                return
            if isinstance(raw, bytes):
                raise protocol_error(NAME, "binary data where JSON was expected")
            message = parse_json(NAME, raw)
            if message.get("type") == "Metadata" and self._ended:
                return
            event = parse_event(message)
            if event is not None:
                yield event


class DeepgramSTT(STT):
    """One utterance per stream: push it, close the stream, join the final results."""

    capabilities = SttCapabilities(streaming=True, hints=True)

    def __init__(self, endpoint: Endpoint, options: DeepgramOptions | None = None) -> None:
        self._endpoint = endpoint
        self._options = options or DeepgramOptions()
        self.sample_rate = self._options.sample_rate

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        finals: list[str] = []
        try:
            async with (
                DeepgramLive.open(self._endpoint, self._options, hint) as live,
                asyncio.TaskGroup() as group,
            ):
                # results are read while audio still goes out: neither side's buffer fills
                group.create_task(self._send_all(live, samples))
                async for event in live.events():
                    if isinstance(event, LiveResult) and event.is_final and event.text:
                        finals.append(event.text)
        except* ProviderError as errors:
            raise errors.exceptions[0] from None
        return Transcript(" ".join(finals), 1000 * len(samples) / self.sample_rate)

    @staticmethod
    async def _send_all(live: DeepgramLive, samples: Pcm16) -> None:
        await live.push(samples)
        await live.end()
