"""The media-stream wire formats: golden messages from the carriers' documentation, round
trips, and hypothesis fuzzing (any text is a parsed message or a clean ProtocolError)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxplane.transports.twilio import signature, twiml
from voxplane.transports.twilio.protocol import (
    MAX_MESSAGE_CHARS,
    Connected,
    Dialect,
    DtmfPressed,
    MarkPlayed,
    Media,
    ProtocolError,
    Start,
    Stop,
    StreamError,
)
from voxplane.transports.twilio.telnyx import TelnyxDialect
from voxplane.transports.twilio.twilio import TwilioDialect

# Source: https://www.twilio.com/docs/voice/media-streams/websocket-messages (examples of
# each message Twilio sends and accepts; SIDs shortened, payload a real μ-law frame start).
TWILIO_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
TWILIO_IN: dict[str, dict[str, Any]] = {
    "connected": {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    "start": {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "streamSid": TWILIO_SID,
            "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"},
        },
        "streamSid": TWILIO_SID,
    },
    "media": {
        "event": "media",
        "sequenceNumber": "3",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": "no+JhoaJjpw="},
        "streamSid": TWILIO_SID,
    },
    "dtmf": {
        "event": "dtmf",
        "streamSid": TWILIO_SID,
        "sequenceNumber": "5",
        "dtmf": {"track": "inbound_track", "digit": "1"},
    },
    "mark": {
        "event": "mark",
        "sequenceNumber": "4",
        "streamSid": TWILIO_SID,
        "mark": {"name": "my label"},
    },
    "stop": {
        "event": "stop",
        "sequenceNumber": "5",
        "stop": {"accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "callSid": "CAXXXX"},
        "streamSid": TWILIO_SID,
    },
}
PAYLOAD = bytes([0x9E, 0x8F, 0x89, 0x86, 0x86, 0x89, 0x8E, 0x9C])

# Source: https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming
# (WebSocket events; bidirectional RTP mode).
TELNYX_ID = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
TELNYX_IN: dict[str, dict[str, Any]] = {
    "connected": {"event": "connected", "version": "1.0.0"},
    "start": {
        "event": "start",
        "sequence_number": "1",
        "start": {
            "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
            "call_control_id": "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
            "call_session_id": "ff55a038-6f5d-11ef-9692-02420aeffb1f",
            "from": "+13122010094",
            "to": "+13122123456",
            "tags": ["TAG1", "TAG2"],
            "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        },
        "stream_id": TELNYX_ID,
    },
    "media": {
        "event": "media",
        "sequence_number": "4",
        "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": "no+JhoaJjpw="},
        "stream_id": TELNYX_ID,
    },
    "dtmf": {
        "event": "dtmf",
        "stream_id": TELNYX_ID,
        "occurred_at": "2025-06-05T08:54:19.698408Z",
        "sequence_number": "5",
        "dtmf": {"digit": "1"},
    },
    "mark": {"event": "mark", "sequence_number": "6", "stream_id": TELNYX_ID,
             "mark": {"name": "greeting-end"}},
    "stop": {
        "event": "stop",
        "sequence_number": "7",
        "stop": {"user_id": "3E6F995F-85F7-4705-9741-53B116D28237", "call_control_id": "v2:x"},
        "stream_id": TELNYX_ID,
    },
    "error": {
        "event": "error",
        "payload": {"code": 100003, "title": "malformed_frame", "detail": "Incorrect frame"},
        "stream_id": TELNYX_ID,
    },
}  # fmt: skip


def test_twilio_documented_messages_parse() -> None:
    twilio = TwilioDialect()
    parsed = {name: twilio.parse(json.dumps(message)) for name, message in TWILIO_IN.items()}
    assert parsed["connected"] == Connected("Call", "1.0.0")
    assert parsed["start"] == Start(
        stream_id=TWILIO_SID,
        call_id="CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        encoding="pcmu",
        sample_rate=8000,
        parameters={"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"},
        account_id="ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    )
    assert parsed["media"] == Media(PAYLOAD, chunk=1, timestamp_ms=5)
    assert parsed["dtmf"] == DtmfPressed("1")
    assert parsed["mark"] == MarkPlayed("my label")
    assert parsed["stop"] == Stop()


def test_twilio_outbound_messages_are_the_documented_ones() -> None:
    twilio = TwilioDialect()
    assert json.loads(twilio.media(TWILIO_SID, PAYLOAD)) == {
        "event": "media",
        "streamSid": TWILIO_SID,
        "media": {"payload": "no+JhoaJjpw="},
    }
    assert json.loads(twilio.mark(TWILIO_SID, "my label")) == {
        "event": "mark",
        "streamSid": TWILIO_SID,
        "mark": {"name": "my label"},
    }
    assert json.loads(twilio.clear(TWILIO_SID)) == {"event": "clear", "streamSid": TWILIO_SID}


def test_telnyx_documented_messages_parse() -> None:
    telnyx = TelnyxDialect()
    parsed = {name: telnyx.parse(json.dumps(message)) for name, message in TELNYX_IN.items()}
    assert parsed["connected"] == Connected("Call", "1.0.0")
    start = parsed["start"]
    assert isinstance(start, Start)
    assert (start.stream_id, start.encoding, start.sample_rate) == (TELNYX_ID, "pcmu", 8000)
    assert start.call_id.startswith("v2:T02ll")
    assert (start.from_number, start.to_number) == ("+13122010094", "+13122123456")
    assert parsed["media"] == Media(PAYLOAD, chunk=2, timestamp_ms=5)
    assert parsed["dtmf"] == DtmfPressed("1")
    assert parsed["mark"] == MarkPlayed("greeting-end")
    assert parsed["stop"] == Stop()
    assert parsed["error"] == StreamError("Incorrect frame")


def test_telnyx_outbound_messages_are_the_documented_ones() -> None:
    telnyx = TelnyxDialect()
    assert json.loads(telnyx.media(TELNYX_ID, PAYLOAD)) == {
        "event": "media",
        "media": {"payload": "no+JhoaJjpw="},
    }
    assert json.loads(telnyx.mark(TELNYX_ID, "greeting-end")) == {
        "event": "mark",
        "mark": {"name": "greeting-end"},
    }
    assert json.loads(telnyx.clear(TELNYX_ID)) == {"event": "clear"}


def test_telnyx_pcma_is_understood() -> None:
    message = json.loads(json.dumps(TELNYX_IN["start"]))
    message["start"]["media_format"]["encoding"] = "PCMA"
    start = TelnyxDialect().parse(json.dumps(message))
    assert isinstance(start, Start) and start.encoding == "pcma"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"event": "hello"}', "unknown event 'hello'"),
        ("{}", "message has no event"),
        ('{"event": "media"}', "'media' is missing"),
        ('{"event": "media", "media": {"payload": "***"}}', "not base64"),
        ('{"event": "media", "media": {"track": "outbound", "payload": ""}}', "not the caller"),
        ('{"event": "dtmf", "dtmf": {"digit": "12"}}', "dtmf digit"),
        ('{"event": "mark", "mark": {}}', "'name'"),
        ('{"event": "start", "start": {"callSid": "CA1"}}', "'streamSid'"),
        (
            '{"event": "start", "streamSid": "MZ1", "start": {"callSid": "CA1",'
            ' "mediaFormat": {"encoding": "audio/l16", "sampleRate": 16000}}}',
            "unsupported media format",
        ),
        ('{"event": "start", "streamSid": "MZ", "start": {"callSid": "CA",'
         ' "customParameters": {"a": 1}}}', "customParameters"),
        ("x" * (MAX_MESSAGE_CHARS + 1), "over"),
    ],
)  # fmt: skip
def test_twilio_rejects_malformed_messages_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as error:
        TwilioDialect().parse(text)
    assert reason in error.value.reason
    assert len(error.value.reason.encode()) <= 123  # fits a websocket close frame


DIALECTS = [TwilioDialect(), TelnyxDialect()]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)  # fmt: skip
EVENTS = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "error", "x"])


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_parses_or_is_rejected_cleanly(dialect: Dialect, text: str) -> None:
    try:
        dialect.parse(text)
    except ProtocolError as error:
        assert error.reason


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@settings(max_examples=400, deadline=None)
@given(event=EVENTS, body=st.dictionaries(st.text(max_size=20), json_values, max_size=6))
def test_any_shaped_message_parses_or_is_rejected_cleanly(
    dialect: Dialect, event: str, body: dict[str, Any]
) -> None:
    for key in ("start", "media", "dtmf", "mark", "stop", "payload"):
        body.setdefault(key, body.get("x"))
    try:
        dialect.parse(json.dumps({**body, "event": event}, default=str))
    except ProtocolError as error:
        assert error.reason


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@given(payload=st.binary(max_size=400), name=st.text(max_size=40))
def test_what_we_send_parses_back(dialect: Dialect, payload: bytes, name: str) -> None:
    """Our outbound messages, read as a carrier would (the same shapes come back)."""
    assert json.loads(dialect.media("S", payload))["media"]["payload"] is not None
    echoed = {"event": "mark", "mark": json.loads(dialect.mark("S", name))["mark"]}
    if name:
        assert dialect.parse(json.dumps(echoed)) == MarkPlayed(name)


# Source: https://www.twilio.com/docs/usage/security#validating-requests — the documented
# example (also in twilio-python's tests/unit/test_request_validator.py).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_signature_golden() -> None:
    assert signature.compute("12345", DOC_URL, DOC_PARAMS.items()) == DOC_SIGNATURE
    assert signature.is_valid(DOC_SIGNATURE, ["other", "12345"], DOC_URL, DOC_PARAMS.items())


def test_twilio_signature_accepts_the_default_port_either_way() -> None:
    with_port = DOC_URL.replace(".com", ".com:443")
    assert signature.is_valid(DOC_SIGNATURE, ["12345"], with_port, DOC_PARAMS.items())


@pytest.mark.parametrize(
    "change",
    [
        lambda p: {**p, "Digits": "1235"},
        lambda p: {**p, "Extra": "1"},
        lambda p: {k: v for k, v in p.items() if k != "To"},
    ],
)
def test_twilio_signature_rejects_any_change(change: Any) -> None:
    assert not signature.is_valid(DOC_SIGNATURE, ["12345"], DOC_URL, change(DOC_PARAMS).items())
    assert not signature.is_valid(DOC_SIGNATURE, ["54321"], DOC_URL, DOC_PARAMS.items())
    assert not signature.is_valid(DOC_SIGNATURE, ["12345"], DOC_URL + "&x=1", DOC_PARAMS.items())


def test_twiml_connect_stream_escapes_its_values() -> None:
    document = twiml.connect_stream("wss://h/v1/twilio/stream", {"token": 'a"<b>&'})
    assert document == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://h/v1/twilio/stream">'
        '<Parameter name="token" value="a&quot;&lt;b&gt;&amp;"/>'
        "</Stream></Connect></Response>"
    )
    assert twiml.reject("busy").endswith('<Response><Reject reason="busy"/></Response>')
