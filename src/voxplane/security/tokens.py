"""Access tokens (short-lived JWTs) and opaque tokens (API keys, refresh tokens).

Opaque tokens are ``{prefix}_{43 random url-safe chars}``: ``vxp_`` for API keys, ``vxr_``
for refresh tokens, ``vxi_`` for invitation links. Only their SHA-256 digest is stored; with
256 bits of entropy a fast hash is enough, unlike passwords.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from voxplane.errors import AuthError, ConfigError

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
"""HS256 keys shorter than the hash output (RFC 7518 §3.2) are refused."""
_CLAIMS = ("exp", "iat", "iss", "sub", "tid", "role", "sid")
_INVALID = "invalid or expired access token"
_TOKEN_BODY = re.compile(r"[A-Za-z0-9_-]{32,128}")


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says about its bearer."""

    user_id: str
    tenant_id: str
    role: str
    session_id: str
    """The login session (refresh-token family), so a logout can revoke it."""
    expires_at: int
    """Unix seconds."""


class TokenSigner:
    """Short-lived JWT access tokens (HS256) signed with a server secret."""

    def __init__(
        self,
        secret: bytes,
        *,
        ttl_s: int = 900,
        issuer: str = "voxplane",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(f"the token signing secret must be at least {MIN_SECRET_BYTES} bytes")
        if ttl_s <= 0:
            raise ConfigError("the access token lifetime must be positive")
        self._secret = secret
        self._ttl_s = ttl_s
        self._issuer = issuer
        self._clock = clock

    def __repr__(self) -> str:  # never the secret
        return f"TokenSigner(issuer={self._issuer!r}, ttl_s={self._ttl_s})"

    def issue(self, *, user_id: str, tenant_id: str, role: str, session_id: str) -> str:
        """A signed access token valid for ``ttl_s`` seconds from now."""
        now = int(self._clock())
        payload = {
            "iss": self._issuer,
            "sub": user_id,
            "tid": tenant_id,
            "role": role,
            "sid": session_id,
            "iat": now,
            "exp": now + self._ttl_s,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token; :class:`AuthError` for anything else, whatever the cause."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # a fixed list: "none" and key confusion are refused
                issuer=self._issuer,
                # time is checked below against our clock, which tests can drive
                options={"require": list(_CLAIMS), "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise AuthError(_INVALID) from None
        claims = _claims(payload)
        if claims is None or self._clock() >= claims.expires_at:
            raise AuthError(_INVALID)
        return claims


def _claims(payload: dict[str, Any]) -> AccessClaims | None:
    """The typed claims, or None if one has the wrong type (a signed token we did not make)."""
    exp = payload["exp"]
    strings = [payload[name] for name in ("sub", "tid", "role", "sid")]
    if isinstance(exp, bool) or not isinstance(exp, int):
        return None
    if not all(isinstance(value, str) and value for value in strings):
        return None
    user_id, tenant_id, role, session_id = strings
    return AccessClaims(user_id, tenant_id, role, session_id, expires_at=exp)


def new_token(prefix: str) -> str:
    """A fresh opaque token, e.g. ``new_token("vxp")`` for an API key."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    """The SHA-256 hex digest stored in place of an API key or refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like(token: str, prefix: str) -> bool:
    """A cheap shape check before a database lookup: ``{prefix}_`` and url-safe chars."""
    head = f"{prefix}_"
    return token.startswith(head) and _TOKEN_BODY.fullmatch(token[len(head) :]) is not None
