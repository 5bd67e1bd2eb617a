"""The data channel's messages: JSON text, one object per message, ``type`` first.

Server → page (see ``docs/webrtc.md`` for the schema)::

    {"type": "call", "call_id": "cal_…"}
    {"type": "state", "state": "listening" | "thinking" | "speaking" | "ended"}
    {"type": "transcript", "role": "user" | "agent", "text": …, "start_ms": …,
     "end_ms": …, "interrupted": false}
    {"type": "metrics", "turn": 1, "stt_ms": …, "brain_ms": …, "tts_ms": …,
     "voice_to_voice_ms": …}
    {"type": "transfer", "target": "+1…"}      (the agent handed the call on)
    {"type": "dtmf", "keys": "12#"}            (the agent pressed keys)

Page → server::

    {"type": "hangup"}
    {"type": "dtmf", "keys": "12#"}

Anything else a page sends is a protocol error: the connection is closed.
Pure: strings in, values out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from voxplane.transports.base import DTMF_KEYS

CHANNEL_LABEL = "voxplane"
"""The label of the data channel a page opens before it makes its offer."""
MAX_MESSAGE_CHARS = 1024
"""A page's messages are tiny; a longer one is a protocol error."""
MAX_DTMF_KEYS = 32

AgentState = Literal["listening", "thinking", "speaking", "ended"]


class MessageError(ValueError):
    """A page sent something that is not one of its messages."""


@dataclass(frozen=True, slots=True)
class HangupRequest:
    """The page ended the call."""


@dataclass(frozen=True, slots=True)
class KeysPressed:
    keys: str


PageMessage = HangupRequest | KeysPressed


def parse(text: str | bytes) -> PageMessage:
    """One message from the page, or :class:`MessageError`."""
    if isinstance(text, bytes):
        raise MessageError("messages are JSON text, not binary")
    if len(text) > MAX_MESSAGE_CHARS:
        raise MessageError(f"a message is at most {MAX_MESSAGE_CHARS} characters")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise MessageError("not JSON") from error
    if not isinstance(body, dict):
        raise MessageError("a message is a JSON object")
    match body.get("type"):
        case "hangup":
            return HangupRequest()
        case "dtmf":
            keys = body.get("keys")
            if (
                not isinstance(keys, str)
                or not 0 < len(keys) <= MAX_DTMF_KEYS
                or not set(keys) <= DTMF_KEYS
            ):
                raise MessageError("'keys' is 1-32 of 0-9, *, #, A-D")
            return KeysPressed(keys)
        case _:
            raise MessageError("unknown message type")


def encode(kind: str, **fields: Any) -> str:
    """A server message, ``{"type": kind, **fields}`` as compact JSON."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"), ensure_ascii=False)


class FloodGuard:
    """A token bucket over the page's messages: ``rate`` a second, ``burst`` at once.
    A page past it is flooding (the runtime closes the connection). Time is passed in."""

    def __init__(self, rate: float = 20.0, burst: float = 40.0) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._at: float | None = None

    def allow(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
