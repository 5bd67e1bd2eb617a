"""Twilio Media Streams, bidirectional (``<Connect><Stream>``), as Twilio documents them at
https://www.twilio.com/docs/voice/media-streams/websocket-messages.

In: ``connected``, ``start``, ``media``, ``dtmf``, ``mark``, ``stop``. Out: ``media``,
``mark``, ``clear``. Audio is base64 8 kHz μ-law (``audio/x-mulaw``).
"""

from __future__ import annotations

from functools import lru_cache

from voxplane.transports.twilio.protocol import (
    Connected,
    Dialect,
    Encoding,
    Inbound,
    Start,
    check_format,
    dumps,
    encode_payload,
    load_object,
    required_text,
    section,
    shared_event,
    string_map,
    text_field,
    unknown_event,
)

_ENCODINGS: dict[str, Encoding] = {"audio/x-mulaw": "pcmu"}


class TwilioDialect(Dialect):
    name = "twilio"

    def parse(self, text: str) -> Inbound:
        message = load_object(text)
        match message.get("event"):
            case "connected":
                return Connected(
                    text_field(message, "protocol", required=False) or "Call",
                    text_field(message, "version", required=False) or "",
                )
            case "start":
                return _start(message)
        shared = shared_event(message)
        if shared is None:
            raise unknown_event(message)
        return shared

    def media(self, stream_id: str, payload: bytes) -> str:
        return _media_head(stream_id) + encode_payload(payload) + '"}}'

    def mark(self, stream_id: str, name: str) -> str:
        return dumps({"event": "mark", "streamSid": stream_id, "mark": {"name": name}})

    def clear(self, stream_id: str) -> str:
        return dumps({"event": "clear", "streamSid": stream_id})


@lru_cache(maxsize=4096)
def _media_head(stream_id: str) -> str:
    """A media message up to its payload's text: the same for every frame of a stream
    (base64 needs no JSON escaping, so the payload is joined in as it is)."""
    return dumps({"event": "media", "streamSid": stream_id, "media": {"payload": ""}})[:-3]


def _start(message: dict[str, object]) -> Start:
    start = section(message, "start")
    media_format = start.get("mediaFormat")
    encoding, rate = "audio/x-mulaw", 8000
    if isinstance(media_format, dict):
        encoding = media_format.get("encoding", encoding)
        rate = media_format.get("sampleRate", rate)
    stream_id = text_field(start, "streamSid", required=False)
    return Start(
        stream_id=stream_id or required_text(message, "streamSid"),
        call_id=required_text(start, "callSid"),
        encoding=check_format(encoding, rate, _ENCODINGS),
        sample_rate=8000,
        parameters=string_map(start.get("customParameters"), "customParameters"),
        account_id=text_field(start, "accountSid", required=False),
    )
