"""HTTP Digest authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760).

Client side: :meth:`Challenge.parse` a ``WWW-Authenticate`` / ``Proxy-Authenticate`` value,
then :func:`authorize` builds the ``Authorization`` / ``Proxy-Authorization`` value (MD5,
SHA-256, SHA-512-256 and their ``-sess`` forms; ``qop=auth`` or ``auth-int``);
:func:`answer_challenge` does both for a 401/407 to a request.

Server side: :class:`DigestVerifier` issues nonces and checks credentials for inbound trunk
calls. A nonce is ``base64(issued_at || HMAC(secret, issued_at || realm))``: stateless, with
its issue time as data, so expiry needs no clock read beyond the ``now`` the caller passes.
Replayed ``nc`` values are refused (a bounded per-nonce memory).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Literal

from voxplane.errors import ProtocolError
from voxplane.transports.sip.headers import split_list
from voxplane.transports.sip.message import SipRequest, SipResponse

ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
Verdict = Literal["ok", "stale", "invalid"]


def _hash(algorithm: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.new(ALGORITHMS[algorithm], data).hexdigest()


def _split_algorithm(name: str) -> tuple[str, bool]:
    upper = name.upper()
    base, sess = (upper[:-5], True) if upper.endswith("-SESS") else (upper, False)
    if base not in ALGORITHMS:
        raise ProtocolError(f"unsupported digest algorithm {name[:20]!r}")
    return base, sess


def _parse_params(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ProtocolError("not a Digest authentication header")
    params: dict[str, str] = {}
    for item in split_list(rest):
        name, eq, raw = item.partition("=")
        if not eq:
            raise ProtocolError("bad digest parameter")
        raw = raw.strip()
        if raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"'):
                raise ProtocolError("unterminated quoted digest parameter")
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[name.strip().lower()] = raw
    return params


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Challenge:
    """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` Digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """Parse a Digest challenge; 400 ``ProtocolError`` if malformed or unsupported."""
        params = _parse_params(value)
        if "realm" not in params or "nonce" not in params:
            raise ProtocolError("digest challenge without realm or nonce")
        algorithm = params.get("algorithm", "MD5")
        _split_algorithm(algorithm)
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        stale = params.get("stale", "").lower() == "true"
        return cls(params["realm"], params["nonce"], algorithm, qop, params.get("opaque"), stale)

    def encode(self) -> str:
        """The header value."""
        parts = [f"realm={_quote(self.realm)}", f"nonce={_quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={_quote(','.join(self.qop))}")
        if self.stale:
            parts.append("stale=TRUE")
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Credentials:
    """An ``Authorization`` / ``Proxy-Authorization`` Digest value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    @classmethod
    def parse(cls, value: str) -> Credentials:
        """Parse Digest credentials; 400 ``ProtocolError`` if a field is missing."""
        p = _parse_params(value)
        try:
            creds = cls(p["username"], p["realm"], p["nonce"], p["uri"], p["response"],
                        p.get("algorithm", "MD5"), p.get("qop"), p.get("nc"), p.get("cnonce"),
                        p.get("opaque"))  # fmt: skip
        except KeyError as exc:
            raise ProtocolError(f"digest credentials without {exc.args[0]}") from None
        if creds.qop is not None and (creds.nc is None or creds.cnonce is None):
            raise ProtocolError("digest qop without nc and cnonce")
        return creds

    def encode(self) -> str:
        """The header value."""
        parts = [
            f"username={_quote(self.username)}", f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}", f"uri={_quote(self.uri)}",
            f"response={_quote(self.response)}", f"algorithm={self.algorithm}",
        ]  # fmt: skip
        if self.qop is not None:
            parts += [f"qop={self.qop}", f"nc={self.nc}", f"cnonce={_quote(self.cnonce or '')}"]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        return "Digest " + ", ".join(parts)


def digest_response(creds: Credentials, password: str, method: str, body: bytes = b"") -> str:
    """The ``response`` value these credentials must carry (RFC 7616 §3.4.1)."""
    algorithm, sess = _split_algorithm(creds.algorithm)
    ha1 = _hash(algorithm, f"{creds.username}:{creds.realm}:{password}")
    if sess:
        ha1 = _hash(algorithm, f"{ha1}:{creds.nonce}:{creds.cnonce or ''}")
    a2 = f"{method}:{creds.uri}"
    if creds.qop == "auth-int":
        a2 += ":" + _hash(algorithm, body)
    ha2 = _hash(algorithm, a2)
    if creds.qop is None:
        return _hash(algorithm, f"{ha1}:{creds.nonce}:{ha2}")
    tail = f"{creds.nonce}:{creds.nc}:{creds.cnonce}:{creds.qop}:{ha2}"
    return _hash(algorithm, f"{ha1}:{tail}")


def authorize(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
    body: bytes = b"",
) -> Credentials:
    """Answer ``challenge``: ``qop=auth`` when offered (else ``auth-int``, else none)."""
    qop = next((q for q in ("auth", "auth-int") if q in challenge.qop), None)
    if challenge.qop and qop is None:
        raise ProtocolError("digest challenge offers no supported qop")
    unsigned = Credentials(
        username, challenge.realm, challenge.nonce, uri, "", challenge.algorithm, qop,
        f"{nc:08x}" if qop else None,
        (cnonce or secrets.token_hex(8)) if qop else None,
        challenge.opaque,
    )  # fmt: skip
    return replace(unsigned, response=digest_response(unsigned, password, method, body))


def answer_challenge(
    challenge: SipResponse, request: SipRequest, *, username: str, password: str
) -> tuple[str, str] | None:
    """The header answering a 401 (``Authorization``) or 407 (``Proxy-Authorization``) to
    ``request``, to send with the request again (next CSeq); None when the response is no
    usable challenge."""
    name = {401: "WWW-Authenticate", 407: "Proxy-Authenticate"}.get(challenge.status)
    value = challenge.headers.get(name) if name is not None else None
    if value is None:
        return None
    try:
        credentials = authorize(
            Challenge.parse(value), username=username, password=password,
            method=request.method, uri=request.uri, body=request.body,
        )  # fmt: skip
    except ProtocolError:
        return None
    header = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
    return header, credentials.encode()


@dataclass(slots=True)
class DigestVerifier:
    """Issues and checks nonces for one realm (server side, inbound trunk credentials)."""

    realm: str
    secret: bytes
    ttl_s: float = 300.0
    algorithm: str = "MD5"
    max_tracked: int = 4096
    _nc_seen: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def challenge(self, now: float, *, stale: bool = False) -> Challenge:
        """A fresh challenge (``stale=True`` after an expired nonce, RFC 7616 §3.3)."""
        issued = struct.pack("!d", now)
        mac = hmac.new(self.secret, issued + self.realm.encode(), hashlib.sha256).digest()
        nonce = base64.urlsafe_b64encode(issued + mac[:16]).decode()
        return Challenge(self.realm, nonce, self.algorithm, ("auth",), None, stale)

    def verify(
        self, creds: Credentials, *, password: str, method: str, now: float, body: bytes = b""
    ) -> Verdict:
        """``ok``; ``stale`` (good password, expired nonce: challenge again); or ``invalid``."""
        issued = self._nonce_time(creds.nonce)
        # our challenges offer qop=auth, so credentials without a qop (and nc) are refused
        if issued is None or creds.realm != self.realm or creds.qop not in ("auth", "auth-int"):
            return "invalid"
        try:
            expected = digest_response(creds, password, method, body)
        except ProtocolError:
            return "invalid"
        if not hmac.compare_digest(expected.encode(), creds.response.lower().encode()):
            return "invalid"
        if not 0 <= now - issued <= self.ttl_s:
            return "stale"
        return "ok" if self._fresh_nc(creds) else "invalid"

    def _nonce_time(self, nonce: str) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce.encode())
        except (ValueError, TypeError):
            return None
        if len(raw) != 24:
            return None
        mac = hmac.new(self.secret, raw[:8] + self.realm.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(mac[:16], raw[8:]):
            return None
        issued: float = struct.unpack("!d", raw[:8])[0]
        return issued

    def _fresh_nc(self, creds: Credentials) -> bool:
        try:
            nc = int(creds.nc or "", 16)
        except ValueError:
            return False
        if nc <= self._nc_seen.get(creds.nonce, 0):
            return False
        self._nc_seen[creds.nonce] = nc
        self._nc_seen.move_to_end(creds.nonce)
        while len(self._nc_seen) > self.max_tracked:
            self._nc_seen.popitem(last=False)
        return True
