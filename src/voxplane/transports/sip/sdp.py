"""SDP (RFC 4566 / RFC 8866): parse and serialize session descriptions.

Pure: text in, frozen dataclasses out. Lines voxplane does not interpret (``i=``, ``b=``,
``k=``, unknown attributes…) are kept and written back, so ``parse(encode(x)) == x``.
Offer/answer on top of this lives in :mod:`voxplane.transports.sip.offer_answer`.
Malformed input raises :class:`~voxplane.errors.ProtocolError` with status 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from voxplane.errors import ProtocolError

MAX_SDP_BYTES = 16_384
MAX_MEDIA = 16

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")
Attribute = tuple[str, str | None]
"""``a=name:value`` → ``("name", "value")``; a flag ``a=sendrecv`` → ``("sendrecv", None)``."""

# Session-level z= and k= lines follow t= (RFC 4566 §5); other kept lines precede c=.
_AFTER_T = frozenset("zk")
_STATIC_RTPMAP = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 18: ("G729", 8000)}


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=username sess-id sess-version IN IP4 address``."""

    username: str
    session_id: str
    session_version: str
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=IN IP4 address`` (a TTL or count suffix stays part of ``address``)."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """``IP6`` when the address has a colon, ``IP4`` otherwise."""
        return cls(address, addrtype="IP6" if ":" in address else "IP4")

    @property
    def is_hold(self) -> bool:
        """RFC 2543 hold: ``c=IN IP4 0.0.0.0`` (RFC 3264 §8.4)."""
        return self.address.split("/")[0] in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


def _attr_value(attributes: tuple[Attribute, ...], name: str) -> str | None:
    return next((v or "" for k, v in attributes if k == name), None)


def _attr_direction(attributes: tuple[Attribute, ...]) -> Direction | None:
    return next((d for d in DIRECTIONS for k, _ in attributes if k == d), None)


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One ``m=`` section."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    lines: tuple[tuple[str, str], ...] = ()
    port_count: int | None = None

    def attribute(self, name: str) -> str | None:
        """The first ``a=name`` value ("" for a flag), None if absent."""
        return _attr_value(self.attributes, name)

    def attributes_named(self, name: str) -> tuple[str, ...]:
        """Every ``a=name`` value."""
        return tuple(v or "" for k, v in self.attributes if k == name)

    def rtpmap(self, payload_type: int) -> tuple[str, int] | None:
        """``(encoding, clock_rate)`` for a payload type (static table when no a=rtpmap)."""
        for value in self.attributes_named("rtpmap"):
            pt, _, spec = value.partition(" ")
            if pt.strip() == str(payload_type):
                name, _, rest = spec.strip().partition("/")
                rate = rest.partition("/")[0]
                return (name, int(rate)) if rate.isdigit() else None
        return _STATIC_RTPMAP.get(payload_type)

    def payload_types(self) -> tuple[int, ...]:
        """The numeric formats of an RTP m-line (others are ignored)."""
        return tuple(int(f) for f in self.formats if f.isdigit() and int(f) < 128)

    @property
    def ptime_ms(self) -> int | None:
        """``a=ptime`` in milliseconds, None if absent or unusable."""
        value = self.attribute("ptime")
        return int(value) if value and value.isdigit() and 0 < int(value) <= 1000 else None


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    media: tuple[MediaDescription, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    times: tuple[tuple[str, str], ...] = (("t", "0 0"),)
    lines: tuple[tuple[str, str], ...] = ()

    def direction_of(self, media: MediaDescription) -> Direction:
        """The media's direction: its own attribute, else the session's, else sendrecv."""
        return _attr_direction(media.attributes) or _attr_direction(self.attributes) or "sendrecv"

    def connection_of(self, media: MediaDescription) -> Connection | None:
        """The media's c= line, else the session's."""
        return media.connection or self.connection

    def encode(self) -> bytes:
        """The wire form (CRLF line ends, RFC 4566 §5 line order)."""
        out = ["v=0", f"o={self.origin}", f"s={self.session_name}"]
        out += [f"{k}={v}" for k, v in self.lines if k not in "bzk"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"{k}={v}" for k, v in self.lines if k == "b"]
        out += [f"{k}={v}" for k, v in self.times]
        out += [f"{k}={v}" for k, v in self.lines if k in _AFTER_T]
        out += [_format_attr(a) for a in self.attributes]
        for m in self.media:
            port = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
            out.append(f"m={m.media} {port} {' '.join((m.proto, *m.formats))}")
            out += [f"{k}={v}" for k, v in m.lines if k not in "bk"]
            if m.connection is not None:
                out.append(f"c={m.connection}")
            out += [f"{k}={v}" for k, v in m.lines if k in "bk"]
            out += [_format_attr(a) for a in m.attributes]
        return ("\r\n".join(out) + "\r\n").encode()


def _format_attr(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


def _parse_attr(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    if not name or " " in name:
        raise ProtocolError("bad SDP attribute")
    return (name, rest if colon else None)


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise ProtocolError("bad SDP c= line")
    return Connection(parts[2], parts[0], parts[1])


def _parse_origin(value: str) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise ProtocolError("bad SDP o= line")
    return Origin(parts[0], parts[1], parts[2], parts[5], parts[3], parts[4])


def _parse_media_line(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise ProtocolError("bad SDP m= line")
    port_text, _, count_text = parts[1].partition("/")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ProtocolError("bad SDP media port")
    if count_text and not count_text.isdigit():
        raise ProtocolError("bad SDP port count")
    count = int(count_text) if count_text else None
    return MediaDescription(parts[0], int(port_text), parts[2], tuple(parts[3:]), port_count=count)


def _split_lines(data: bytes | str) -> list[tuple[str, str]]:
    if len(data) > MAX_SDP_BYTES:
        raise ProtocolError("SDP too large", status=413)
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise ProtocolError("SDP is not UTF-8") from None
    pairs: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise ProtocolError("bad SDP line")
        pairs.append((line[0], line[2:]))
    return pairs


@dataclass(slots=True)
class _Section:
    connections: list[Connection] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def connection(self) -> Connection | None:
        if len(self.connections) > 1:
            raise ProtocolError("more than one c= line")
        return self.connections[0] if self.connections else None


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body (CRLF or LF line ends); 400 when malformed, 413 when oversize."""
    pairs = _split_lines(data)
    if len(pairs) < 3 or pairs[0] != ("v", "0"):
        raise ProtocolError("SDP must start with v=0")
    origin: Origin | None = None
    name = "-"
    session = _Section()
    times: list[tuple[str, str]] = []
    heads: list[MediaDescription] = []
    sections: list[_Section] = []
    for kind, value in pairs[1:]:
        if kind == "m":
            if len(heads) >= MAX_MEDIA:
                raise ProtocolError("too many SDP media sections")
            heads.append(_parse_media_line(value))
            sections.append(_Section())
            continue
        target = sections[-1] if sections else session
        if kind == "o" and not sections:
            origin = _parse_origin(value)
        elif kind == "s" and not sections:
            name = value
        elif kind in "tr" and not sections:
            times.append((kind, value))
        elif kind == "c":
            target.connections.append(_parse_connection(value))
        elif kind == "a":
            target.attributes.append(_parse_attr(value))
        else:
            target.lines.append((kind, value))
    if origin is None:
        raise ProtocolError("SDP without o= line")
    media = tuple(
        replace(head, connection=s.connection, attributes=tuple(s.attributes), lines=tuple(s.lines))
        for head, s in zip(heads, sections, strict=True)
    )
    return SessionDescription(
        origin=origin,
        session_name=name,
        connection=session.connection,
        media=media,
        attributes=tuple(session.attributes),
        times=tuple(times) or (("t", "0 0"),),
        lines=tuple(session.lines),
    )
