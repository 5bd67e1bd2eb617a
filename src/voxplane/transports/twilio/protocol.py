"""What a media-stream websocket says, whatever the carrier's dialect.

A dialect turns one text message into one of the inbound dataclasses below (or raises
:class:`ProtocolError` with a reason fit for a websocket close frame), and makes the three
outbound messages: audio, a playout mark, and clear. Audio is 8 kHz G.711 both ways.
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_MESSAGE_CHARS = 64 * 1024
"""Larger messages are refused: a 20 ms frame is ~300 characters, a start message ~1 KB."""
MAX_PAYLOAD_BYTES = 16_000
"""Up to 2 s of 8 kHz G.711 in one media message."""

Encoding = Literal["pcmu", "pcma"]


class ProtocolError(ValueError):
    """A message the protocol does not allow; ``reason`` fits a close frame (≤ 123 bytes)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:120]


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_id: str
    call_id: str
    """Twilio's CallSid; Telnyx's call_control_id."""
    encoding: Encoding
    sample_rate: int
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Twilio's ``customParameters`` (TwiML ``<Parameter>``s); Telnyx's ``custom_parameters``."""
    account_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None


@dataclass(frozen=True, slots=True)
class Media:
    payload: bytes
    """G.711 bytes, as the start message's encoding says."""
    chunk: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DtmfPressed:
    digit: str


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class StreamError:
    """The carrier reports a problem with what we sent (Telnyx ``error``)."""

    detail: str


Inbound = Connected | Start | Media | DtmfPressed | MarkPlayed | Stop | StreamError


class Dialect(ABC):
    """One carrier's wire format. Pure: text in, messages out."""

    name: str

    @abstractmethod
    def parse(self, text: str) -> Inbound:
        """One inbound text message, or :class:`ProtocolError`."""

    @abstractmethod
    def media(self, stream_id: str, payload: bytes) -> str:
        """Audio toward the caller (G.711 in the stream's encoding)."""

    @abstractmethod
    def mark(self, stream_id: str, name: str) -> str:
        """A marker the carrier echoes once the audio sent before it has played."""

    @abstractmethod
    def clear(self, stream_id: str) -> str:
        """Drop the audio buffered at the carrier (barge-in)."""


# --- helpers the dialects share -----------------------------------------------------------


def load_object(text: str) -> dict[str, Any]:
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError(f"message over {MAX_MESSAGE_CHARS} characters")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ProtocolError("message is not JSON") from error
    if not isinstance(value, dict):
        raise ProtocolError("message is not a JSON object")
    return value


def section(message: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = message.get(name)
    if not isinstance(value, dict):
        raise ProtocolError(f"{name!r} is missing or not an object")
    return value


def text_field(data: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise ProtocolError(f"{name!r} must be a non-empty string")
    return value


def required_text(data: Mapping[str, Any], name: str) -> str:
    value = text_field(data, name)
    assert value is not None
    return value


def int_field(data: Mapping[str, Any], name: str) -> int | None:
    """Carriers send counters as strings ("42"); absent or unparsable is None."""
    value = data.get(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        return int(value)
    return None


def string_map(value: object, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 32:
        raise ProtocolError(f"{name!r} must be an object of at most 32 strings")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ProtocolError(f"{name!r} must map strings to strings")
    return dict(value)


def payload_of(media: Mapping[str, Any]) -> bytes:
    encoded = media.get("payload")
    if not isinstance(encoded, str):
        raise ProtocolError("media payload is missing")
    if len(encoded) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise ProtocolError("media payload is too large")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProtocolError("media payload is not base64") from error


def encode_payload(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def digit_of(dtmf: Mapping[str, Any]) -> str:
    digit = dtmf.get("digit")
    if not isinstance(digit, str) or len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise ProtocolError("dtmf digit must be one of 0-9 * # A-D")
    return digit


def shared_event(message: Mapping[str, Any]) -> Inbound | None:
    """The events both dialects spell alike: ``media``, ``dtmf``, ``mark``, ``stop``."""
    match message.get("event"):
        case "media":
            media = section(message, "media")
            track = media.get("track", "inbound")
            if track != "inbound":
                raise ProtocolError(f"media track {str(track)[:20]!r} is not the caller's")
            chunk, timestamp = int_field(media, "chunk"), int_field(media, "timestamp")
            return Media(payload_of(media), chunk, timestamp)
        case "dtmf":
            return DtmfPressed(digit_of(section(message, "dtmf")))
        case "mark":
            return MarkPlayed(required_text(section(message, "mark"), "name"))
        case "stop":
            return Stop()
    return None


def unknown_event(message: Mapping[str, Any]) -> ProtocolError:
    event = message.get("event")
    if isinstance(event, str):
        return ProtocolError(f"unknown event {event[:40]!r}")
    return ProtocolError("message has no event")


def check_format(encoding: object, rate: object, known: Mapping[str, Encoding]) -> Encoding:
    if not isinstance(encoding, str) or encoding not in known or rate != 8000:
        raise ProtocolError(f"unsupported media format {str(encoding)[:30]!r} at {rate!s:.8} Hz")
    return known[encoding]


def dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))
