"""Telnyx webhook signatures: Ed25519 over ``timestamp|body`` with the account's key."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxplane.transports.twilio import twiml
from voxplane.transports.twilio.telnyx_signature import (
    TOLERANCE_S,
    is_valid,
    public_key_text,
    sign,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = public_key_text(KEY)
BODY = b"CallSid=v3%3Aabc&From=%2B14155550123&To=%2B15550142"
NOW = 1_790_000_000.0
STAMP = str(int(NOW))


def test_a_signature_made_as_telnyx_makes_it_is_valid() -> None:
    assert len(base64.b64decode(PUBLIC)) == 32
    assert is_valid(sign(KEY, STAMP, BODY), STAMP, BODY, [PUBLIC], NOW)
    other = public_key_text(Ed25519PrivateKey.generate())
    assert is_valid(sign(KEY, STAMP, BODY), STAMP, BODY, [other, PUBLIC], NOW)  # any key


@pytest.mark.parametrize(
    ("signature", "timestamp", "body", "keys", "now"),
    [
        (sign(KEY, STAMP, BODY), STAMP, BODY + b"&x=1", [PUBLIC], NOW),  # body changed
        (sign(KEY, STAMP, BODY), str(int(NOW) + 1), BODY, [PUBLIC], NOW),  # timestamp changed
        (sign(KEY, STAMP, BODY), STAMP, BODY, [public_key_text(Ed25519PrivateKey.generate())], NOW),
        (sign(KEY, STAMP, BODY), STAMP, BODY, [PUBLIC], NOW + TOLERANCE_S + 1),  # replayed late
        (sign(KEY, STAMP, BODY), STAMP, BODY, [PUBLIC], NOW - TOLERANCE_S - 1),  # from the future
        (sign(KEY, STAMP, BODY), STAMP, BODY, [], NOW),  # no key stored
        ("not base64!", STAMP, BODY, [PUBLIC], NOW),
        ("", STAMP, BODY, [PUBLIC], NOW),
        (sign(KEY, STAMP, BODY), "", BODY, [PUBLIC], NOW),
        (sign(KEY, STAMP, BODY), "-5", BODY, [PUBLIC], NOW),
        (sign(KEY, STAMP, BODY), "9" * 40, BODY, [PUBLIC], NOW),
        (sign(KEY, STAMP, BODY), STAMP, BODY, ["not a key", "AAAA"], NOW),  # malformed keys
    ],
)
def test_anything_else_is_not_valid_and_nothing_raises(
    signature: str, timestamp: str, body: bytes, keys: list[str], now: float
) -> None:
    assert not is_valid(signature, timestamp, body, keys, now)


def test_texml_stream_takes_telnyx_attributes() -> None:
    document = twiml.connect_stream(
        "wss://h/v1/telnyx/stream?token=a&b", {}, attributes={"bidirectionalMode": "rtp"}
    )
    assert (
        '<Stream url="wss://h/v1/telnyx/stream?token=a&amp;b" bidirectionalMode="rtp">' in document
    )


def test_texml_stream_is_followed_by_a_redirect_when_asked() -> None:
    document = twiml.connect_stream(
        "wss://h/s", {}, redirect="https://h/v1/telnyx/voice/ended?a=1&b=<2>"
    )
    assert document.endswith(
        '</Connect><Redirect method="POST">https://h/v1/telnyx/voice/ended?a=1&amp;b=&lt;2&gt;'
        "</Redirect></Response>"
    )
    assert "<Redirect" not in twiml.connect_stream("wss://h/s", {})
