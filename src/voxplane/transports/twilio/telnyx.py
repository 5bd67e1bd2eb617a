"""Telnyx media streaming, bidirectional RTP mode, as Telnyx documents it at
https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming.

The same conversation as Twilio's in snake_case: ``stream_id``, ``sequence_number``, a
``start.media_format`` of PCMU or PCMA at 8 kHz, ``call_control_id`` for the call, and an
``error`` event; outbound ``media`` / ``mark`` / ``clear`` carry no stream id.
"""

from __future__ import annotations

from voxplane.transports.twilio.protocol import (
    Connected,
    Dialect,
    Encoding,
    Inbound,
    Start,
    StreamError,
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

_ENCODINGS: dict[str, Encoding] = {"PCMU": "pcmu", "audio/x-mulaw": "pcmu", "PCMA": "pcma"}
_MEDIA_HEAD = dumps({"event": "media", "media": {"payload": ""}})[:-3]
"""A media message up to its payload's text (base64 needs no JSON escaping)."""


class TelnyxDialect(Dialect):
    name = "telnyx"

    def parse(self, text: str) -> Inbound:
        message = load_object(text)
        match message.get("event"):
            case "connected":
                return Connected("Call", text_field(message, "version", required=False) or "")
            case "start":
                return _start(message)
            case "error":
                payload = message.get("payload")
                detail = payload.get("detail") if isinstance(payload, dict) else None
                return StreamError(str(detail)[:200] if detail else "unspecified error")
        shared = shared_event(message)
        if shared is None:
            raise unknown_event(message)
        return shared

    def media(self, stream_id: str, payload: bytes) -> str:
        return _MEDIA_HEAD + encode_payload(payload) + '"}}'

    def mark(self, stream_id: str, name: str) -> str:
        return dumps({"event": "mark", "mark": {"name": name}})

    def clear(self, stream_id: str) -> str:
        return dumps({"event": "clear"})


def _start(message: dict[str, object]) -> Start:
    start = section(message, "start")
    media_format = start.get("media_format")
    encoding, rate = "PCMU", 8000
    if isinstance(media_format, dict):
        encoding = media_format.get("encoding", encoding)
        rate = media_format.get("sample_rate", rate)
    return Start(
        stream_id=required_text(message, "stream_id"),
        call_id=required_text(start, "call_control_id"),
        encoding=check_format(encoding, rate, _ENCODINGS),
        sample_rate=8000,
        parameters=string_map(start.get("custom_parameters"), "custom_parameters"),
        account_id=text_field(start, "user_id", required=False),
        from_number=text_field(start, "from", required=False),
        to_number=text_field(start, "to", required=False),
    )
