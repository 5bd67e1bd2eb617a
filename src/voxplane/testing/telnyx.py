"""A Telnyx-protocol client: it plays Telnyx's part against ``voxplane serve`` (tests).

It signs the TeXML voice webhook as Telnyx does (Ed25519 over ``timestamp|body``), follows
the TeXML to the stream URL, and then speaks Telnyx's media-streaming dialect: ``connected``,
``start`` (``stream_id``, ``call_control_id``, ``media_format``), ``media``, ``dtmf``,
``mark`` and ``stop`` in snake_case; the playout, marks and ``clear`` behave as in
:class:`~voxplane.testing.twilio.TwilioStream`, which it extends.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxplane.testing.twilio import TwilioStream
from voxplane.transports.twilio import telnyx_signature


def signed_post(
    base_url: str,
    path: str,
    key: Ed25519PrivateKey,
    form: dict[str, str],
    *,
    at: float | None = None,
) -> httpx.Response:
    """POST ``form`` to ``path`` signed as Telnyx signs it (at ``at``, Unix seconds: now)."""
    body = urlencode(form).encode()
    timestamp = str(int(time.time() if at is None else at))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        telnyx_signature.SIGNATURE_HEADER: telnyx_signature.sign(key, timestamp, body),
        telnyx_signature.TIMESTAMP_HEADER: timestamp,
    }
    return httpx.post(base_url + path, content=body, headers=headers, timeout=120)


def call_form(to: str, caller: str = "+14155550123") -> dict[str, str]:
    """A TeXML voice webhook's form (the Twilio-compatible fields)."""
    return {
        "AccountSid": str(uuid.uuid4()),
        "CallSid": "v3:" + secrets.token_urlsafe(24),
        "From": caller,
        "To": to,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


class TelnyxStream(TwilioStream):
    """One media stream as Telnyx runs it (bidirectional, RTP mode, PCMU)."""

    def _start_message(self, parameters: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
        start = {
            "user_id": str(uuid.uuid4()),
            "call_control_id": self.call_sid,
            "client_state": None,
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
            **({"custom_parameters": parameters} if parameters else {}),
            **extra,
        }
        return {
            "event": "start",
            "sequence_number": self._next(),
            "start": start,
            "stream_id": self.stream_sid,
        }

    def _media_message(self, payload: str) -> dict[str, Any]:
        return {
            "event": "media",
            "sequence_number": self._next(),
            "media": {
                "track": "inbound",
                "chunk": str(self._chunk),
                "timestamp": str(20 * self._chunk),
                "payload": payload,
            },
            "stream_id": self.stream_sid,
        }

    def _dtmf_message(self, digit: str) -> dict[str, Any]:
        return {"event": "dtmf", "stream_id": self.stream_sid, "sequence_number": self._next(),
                "dtmf": {"digit": digit}}  # fmt: skip

    def _mark_message(self, name: str) -> dict[str, Any]:
        return {"event": "mark", "sequence_number": self._next(), "stream_id": self.stream_sid,
                "mark": {"name": name}}  # fmt: skip

    def _stop_message(self) -> dict[str, Any]:
        return {"event": "stop", "sequence_number": self._next(), "stream_id": self.stream_sid,
                "stop": {"call_control_id": self.call_sid}}  # fmt: skip
