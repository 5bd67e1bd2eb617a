"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>``, Stripe-style headers.

``Voxplane-Signature: t=1700000000,v1=<hex>[,v1=<hex>]`` carries one ``v1`` per secret
in force: during a rotation's overlap both the new and the previous secret sign, so a
receiver that still has either one verifies. Receivers should refuse timestamps more than
a few minutes old (replay protection) and drop repeated ``Webhook-Id`` values.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

SIGNATURE_HEADER = "Voxplane-Signature"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets_in_force: Sequence[str], timestamp: int, body: bytes) -> str:
    signatures = ",".join(f"v1={sign(s, timestamp, body)}" for s in secrets_in_force)
    return f"t={timestamp},{signatures}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: True when one ``v1`` matches and the timestamp is fresh."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in fields if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return any(key == "v1" and hmac.compare_digest(value, expected) for key, value in fields)
