"""SIP messages (RFC 3261 §7, §18, §20): parse, serialize, frame streams, build responses.

Pure: bytes in, frozen dataclasses out. Header names are stored in their canonical long
form (compact forms ``v f t i m l c k s …`` are expanded); list headers (Via, Contact,
Route, Record-Route, Allow, Supported …) are split into one entry per element, on commas
outside quotes and angle brackets. :meth:`SipRequest.encode` / :meth:`SipResponse.encode`
always write a correct ``Content-Length``.

Every failure is a :class:`SipParseError` (a ``ProtocolError``) whose ``status`` is the
response to send: 400 malformed, 413 oversize, 505 wrong version. When the start line and
headers parsed but a mandatory header is missing or bad, ``error.request`` holds the request
so that the 400 can still be addressed with :func:`make_response`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from voxplane.errors import ProtocolError
from voxplane.transports.sip.headers import CSeq, NameAddr, Via, is_token, split_list

SIP_VERSION = "SIP/2.0"
MAX_MESSAGE_BYTES = 65_535
"""Largest message accepted (a UDP datagram's limit); bigger gets 413."""
MAX_HEADERS = 128
"""Most header entries (after list splitting) accepted; more gets 400."""

COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_SPECIAL_CASE = {
    name.lower(): name
    for name in ("Call-ID", "CSeq", "WWW-Authenticate", "MIME-Version", "RAck", "RSeq", "SIP-ETag")
}
_LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Via", "Contact", "Route", "Record-Route", "Allow", "Supported", "Require",
        "Proxy-Require", "Unsupported", "Accept", "Accept-Encoding", "Accept-Language",
        "Allow-Events", "Content-Encoding", "Path", "Service-Route",
    )
)  # fmt: skip
REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 183: "Session Progress",
    200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 407: "Proxy Authentication Required",
    408: "Request Timeout", 413: "Request Entity Too Large", 415: "Unsupported Media Type",
    420: "Bad Extension", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    603: "Decline",
}  # fmt: skip
_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d{1,10})[ \t]*\r?$")


class SipParseError(ProtocolError):
    """A SIP message that cannot be used; ``request`` is set when only a header was bad."""

    def __init__(
        self, message: str, *, status: int = 400, request: SipRequest | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.request = request


def canonical_name(name: str) -> str:
    """The canonical long form of a header name: ``i`` → ``Call-ID``, ``via`` → ``Via``."""
    lowered = name.lower()
    if lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    if lowered in _SPECIAL_CASE:
        return _SPECIAL_CASE[lowered]
    return "-".join(part.capitalize() for part in lowered.split("-"))


@dataclass(frozen=True, slots=True)
class Headers:
    """An ordered, immutable header list; lookups are case-insensitive and accept compact forms."""

    items: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        """Headers from ``(name, value)`` pairs, names canonicalised, list headers split."""
        out: list[tuple[str, str]] = []
        for name, value in pairs:
            canonical = canonical_name(name)
            if canonical.lower() in _LIST_HEADERS and value.strip() != "*":
                out.extend((canonical, part) for part in split_list(value))
            else:
                out.append((canonical, value.strip()))
        return cls(tuple(out))

    def get(self, name: str) -> str | None:
        """The first value of ``name``, None if absent."""
        wanted = canonical_name(name)
        return next((v for k, v in self.items if k == wanted), None)

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of ``name`` in order."""
        wanted = canonical_name(name)
        return tuple(v for k, v in self.items if k == wanted)

    def set(self, name: str, *values: str) -> Headers:
        """``name`` replaced by ``values`` at its first position (appended when absent)."""
        wanted = canonical_name(name)
        out: list[tuple[str, str]] = []
        placed = False
        for key, value in self.items:
            if key != wanted:
                out.append((key, value))
            elif not placed:
                out.extend((wanted, v) for v in values)
                placed = True
        if not placed:
            out.extend((wanted, v) for v in values)
        return Headers(tuple(out))

    def add(self, name: str, value: str, *, first: bool = False) -> Headers:
        """One more ``name`` entry, at the top (``first``, e.g. a Via) or at the end."""
        entry = (canonical_name(name), value)
        return Headers((entry, *self.items) if first else (*self.items, entry))

    def remove(self, name: str) -> Headers:
        """Every ``name`` entry removed."""
        wanted = canonical_name(name)
        return Headers(tuple((k, v) for k, v in self.items if k != wanted))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class _Fields:
    """Typed accessors shared by requests and responses (parsing validated they work)."""

    __slots__ = ()
    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self.headers.get("CSeq") or "")

    @property
    def vias(self) -> tuple[Via, ...]:
        return tuple(Via.parse(v) for v in self.headers.get_all("Via"))

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("From") or "")

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(self.headers.get("To") or "")

    @property
    def contact(self) -> NameAddr | None:
        value = self.headers.get("Contact")
        return None if value is None or value == "*" else NameAddr.parse(value)

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        return value.split(";")[0].strip().lower() if value else None

    def _encode(self, start_line: str) -> bytes:
        lines = [start_line]
        lines.extend(f"{k}: {v}" for k, v in self.headers.items if k != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(frozen=True, slots=True)
class SipRequest(_Fields):
    """A SIP request."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""

    def encode(self) -> bytes:
        """Wire bytes, with ``Content-Length`` set from the body."""
        return self._encode(f"{self.method} {self.uri} {SIP_VERSION}")


@dataclass(frozen=True, slots=True)
class SipResponse(_Fields):
    """A SIP response."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    def encode(self) -> bytes:
        """Wire bytes, with ``Content-Length`` set from the body."""
        return self._encode(f"{SIP_VERSION} {self.status} {self.reason}")


SipMessage = SipRequest | SipResponse


def _split_head(data: bytes, max_bytes: int) -> tuple[list[str], bytes]:
    if len(data) > max_bytes:
        raise SipParseError("message too large", status=413)
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise SipParseError("no blank line after the headers")
    try:
        head = data[:end].decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8") from None
    lines: list[str] = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and len(lines) > 1:
            lines[-1] += " " + line.strip()  # folded continuation line (§7.3.1)
        else:
            lines.append(line)
    return lines, data[end + 4 :]


def _parse_headers(lines: list[str]) -> Headers:
    pairs: list[tuple[str, str]] = []
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not is_token(name):
            raise SipParseError("malformed header line")
        pairs.append((name, value))
        if len(pairs) > MAX_HEADERS:
            raise SipParseError("too many headers")
    try:
        headers = Headers.of(pairs)
    except ProtocolError as exc:
        raise SipParseError(exc.message) from None
    if len(headers) > MAX_HEADERS:
        raise SipParseError("too many headers")
    return headers


def _body(headers: Headers, rest: bytes) -> bytes:
    declared = headers.get("Content-Length")
    if declared is None:
        return rest
    if not declared.isdigit():
        raise SipParseError("bad Content-Length")
    length = int(declared)
    if length > len(rest):
        raise SipParseError("body shorter than Content-Length")
    return rest[:length]


def _check_fields(message: SipMessage) -> None:
    headers = message.headers
    for name in ("Call-ID", "CSeq", "From", "To"):
        if len(headers.get_all(name)) != 1:
            raise ProtocolError(f"need exactly one {name}")
    if not headers.get_all("Via"):
        raise ProtocolError("missing Via")
    if not message.call_id:
        raise ProtocolError("empty Call-ID")
    cseq = message.cseq
    message.vias  # noqa: B018  parse every Via now so accessors never fail later
    message.from_  # noqa: B018
    message.to  # noqa: B018
    if isinstance(message, SipRequest) and cseq.method != message.method:
        raise ProtocolError("CSeq method differs from the request method")


def parse_message(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> SipMessage:
    """Parse one SIP message (a datagram, or a frame from :func:`frame_stream`)."""
    lines, rest = _split_head(data, max_bytes)
    start = lines[0]
    headers = _parse_headers(lines[1:])
    body = _body(headers, rest)
    message: SipMessage
    if start.startswith("SIP/"):
        version, _, tail = start.partition(" ")
        code, _, reason = tail.partition(" ")
        if version != SIP_VERSION:
            raise SipParseError("unsupported SIP version", status=505)
        if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 699:
            raise SipParseError("bad status code")
        message = SipResponse(int(code), reason.strip(), headers, body)
    else:
        parts = start.split(" ")
        if len(parts) != 3 or not is_token(parts[0]) or not parts[1]:
            raise SipParseError("bad request line")
        if parts[2] != SIP_VERSION:
            raise SipParseError("unsupported SIP version", status=505)
        message = SipRequest(parts[0], parts[1], headers, body)
    try:
        _check_fields(message)
    except ProtocolError as exc:
        request = message if isinstance(message, SipRequest) else None
        raise SipParseError(exc.message, request=request) from None
    return message


def frame_stream(buffer: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[list[bytes], bytes]:
    """Cut complete messages off a TCP/TLS byte stream: ``(frames, rest_of_buffer)``.

    ``Content-Length`` is mandatory on streams (RFC 3261 §18.3); a message without it, or
    bigger than ``max_bytes``, raises :class:`SipParseError` and the connection should be
    closed (framing is lost). CRLF keep-alives (RFC 5626 §4.4.1) between messages are
    skipped. Parse each frame with :func:`parse_message`.
    """
    frames: list[bytes] = []
    while True:
        stripped = buffer.lstrip(b"\r\n")
        buffer = stripped
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > max_bytes:
                raise SipParseError("headers too large", status=413)
            return frames, buffer
        match = _CONTENT_LENGTH.search(buffer, 0, end + 2)
        if match is None:
            raise SipParseError("Content-Length is required on stream transports")
        total = end + 4 + int(match.group(1))
        if total > max_bytes:
            raise SipParseError("message too large", status=413)
        if len(buffer) < total:
            return frames, buffer
        frames.append(buffer[:total])
        buffer = buffer[total:]


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response to ``request`` (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied.

    ``to_tag`` is added to To when it has none (never on 100 Trying). ``headers`` are
    appended (Contact, Content-Type, Allow …).
    """
    copied = [(k, v) for k, v in request.headers if k in ("Via", "From", "To", "Call-ID", "CSeq")]
    if to_tag is not None and status != 100:
        copied = [(k, _with_to_tag(v, to_tag) if k == "To" else v) for k, v in copied]
    reason_text = reason if reason is not None else REASONS.get(status, "Unknown")
    return SipResponse(status, reason_text, Headers((*copied, *Headers.of(headers))), body)


def stamp_via(request: SipRequest, host: str, port: int) -> SipRequest:
    """Record where a request came from in its top Via (§18.2.1, RFC 3581 ``rport``).

    ``received`` is added when ``host`` differs from the Via's sent-by (always when the
    sender asked for ``rport``, whose value becomes ``port``). Responses then go back to
    the address in ``received``/``rport``.
    """
    items = list(request.headers.items)
    index = next(i for i, (name, _) in enumerate(items) if name == "Via")
    top = Via.parse(items[index][1])
    if top.wants_rport:
        top = top.with_params(received=host, rport=str(port))
    elif top.host.strip("[]") != host:
        top = top.with_params(received=host)
    items[index] = ("Via", str(top))
    return SipRequest(request.method, request.uri, Headers(tuple(items)), request.body)


def _with_to_tag(value: str, tag: str) -> str:
    try:
        to = NameAddr.parse(value)
    except ProtocolError:
        return value
    return value if to.tag else f"{value};tag={tag}"
