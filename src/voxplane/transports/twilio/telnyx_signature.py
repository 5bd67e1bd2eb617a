"""Telnyx webhook signatures (API v2 and TeXML): an Ed25519 signature, base64 in the
``telnyx-signature-ed25519`` header, over ``<telnyx-timestamp>|<raw request body>``,
made with Telnyx's key and checked with the account's public key (Mission Control →
Keys & Credentials → Public Key: base64 of the raw 32-byte key). A timestamp more than
:data:`TOLERANCE_S` away from now is refused, so a captured request cannot be replayed.
(https://developers.telnyx.com/docs/development/sdk/python/webhooks)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE_S = 300


def sign(private_key: Ed25519PrivateKey, timestamp: str, body: bytes) -> str:
    """The header value Telnyx sends for ``body`` signed at ``timestamp`` (tests, tools)."""
    return base64.b64encode(private_key.sign(timestamp.encode() + b"|" + body)).decode()


def public_key_text(private_key: Ed25519PrivateKey) -> str:
    """The public key as the Telnyx portal shows it: base64 of the raw 32 bytes."""
    raw = private_key.public_key().public_bytes_raw()
    return base64.b64encode(raw).decode()


def is_valid(
    signature: str, timestamp: str, body: bytes, public_keys: Iterable[str], now: float
) -> bool:
    """Whether ``signature`` signs ``timestamp|body`` under any of ``public_keys`` and the
    timestamp is within :data:`TOLERANCE_S` of ``now`` (Unix seconds). Malformed headers
    or keys are simply not valid."""
    if not timestamp.isdigit() or len(timestamp) > 12 or abs(int(timestamp) - now) > TOLERANCE_S:
        return False
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    message = timestamp.encode() + b"|" + body
    for text in public_keys:
        key = _public_key(text)
        if key is None:
            continue
        try:
            key.verify(given, message)
        except InvalidSignature:
            continue
        return True
    return False


def _public_key(text: str) -> Ed25519PublicKey | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return None
