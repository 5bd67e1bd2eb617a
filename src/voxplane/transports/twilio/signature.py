"""``X-Twilio-Signature``: HMAC-SHA1, keyed with the account's auth token, over the URL
Twilio requested followed by every POST parameter sorted by name, each as name then value
with no separators; base64. (https://www.twilio.com/docs/usage/security#validating-requests)

Twilio's own libraries accept the URL with and without the scheme's default port, since
what Twilio signs depends on how the URL was configured; so does :func:`is_valid`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def compute(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature Twilio sends for a POST of ``params`` to ``url``."""
    message = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid(
    signature: str, auth_tokens: Iterable[str], url: str, params: Iterable[tuple[str, str]]
) -> bool:
    """Whether ``signature`` was made with any of ``auth_tokens`` (a tenant may have more
    than one Twilio account); compared in constant time."""
    pairs = list(params)
    given = signature.encode()
    return any(
        hmac.compare_digest(given, compute(token, candidate, pairs).encode())
        for token in auth_tokens
        for candidate in _url_variants(url)
    )


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    without = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}"))
    if parts.port is not None and parts.port != default:
        return [url]
    return [without, with_port] if default else [url]
