"""Typed SIP header values (RFC 3261 §20, §25.1): URIs, name-addr, Via, CSeq and parameters.

Every parser takes the text of one header value and returns a frozen dataclass, or raises
:class:`~voxplane.errors.ProtocolError` (status 400). ``str()`` of each value is its wire
form, so ``Via.parse(str(via)) == via``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from voxplane.errors import ProtocolError

Params = tuple[tuple[str, str | None], ...]
"""Header or URI parameters in order: ``;name=value`` or a bare ``;name`` (value None)."""

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_TOKENS = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?: [A-Za-z0-9\-.!%*_+`'~]+)*")
_MAX_CSEQ = 2**31 - 1


def _split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is outside double quotes and angle brackets."""
    parts: list[str] = []
    start = 0
    quoted = False
    angle = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle += 1
        elif ch == ">":
            angle = max(0, angle - 1)
        elif ch == sep and angle == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise ProtocolError("unterminated quoted string")
    parts.append(text[start:])
    return parts


def split_list(value: str) -> list[str]:
    """The comma-separated elements of a list header (commas in quotes or ``<>`` kept)."""
    return [part.strip() for part in _split_outside(value, ",") if part.strip()]


def parse_params(text: str) -> Params:
    """``;a=1;b`` (leading ``;`` optional) → ``(("a", "1"), ("b", None))``."""
    params: list[tuple[str, str | None]] = []
    for raw in _split_outside(text, ";"):
        item = raw.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not _TOKEN.fullmatch(name):
            raise ProtocolError(f"bad parameter name {name[:40]!r}")
        params.append((name, value.strip() if eq else None))
    return tuple(params)


def format_params(params: Params) -> str:
    """The wire form of parameters, each with its leading ``;``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


def get_param(params: Params, name: str) -> str | None:
    """The value of parameter ``name`` (case-insensitive); "" for a bare flag; None if absent."""
    lowered = name.lower()
    for key, value in params:
        if key.lower() == lowered:
            return "" if value is None else value
    return None


def set_param(params: Params, name: str, value: str | None) -> Params:
    """``params`` with ``name`` set (replaced in place, or appended)."""
    lowered = name.lower()
    out = [(k, value) if k.lower() == lowered else (k, v) for k, v in params]
    if get_param(params, name) is None:
        out.append((name, value))
    return tuple(out)


def _split_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ProtocolError("unterminated IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and port_text is None:
            raise ProtocolError("bad host")
    else:
        host, colon, port_text_raw = text.partition(":")
        port_text = port_text_raw if colon else None
    if not host or any(c in host for c in ' \t<>"@;,'):
        raise ProtocolError("bad host")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ProtocolError("bad port")
    return host, int(port_text)


def _format_hostport(host: str, port: int | None) -> str:
    return host if port is None else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` / ``sips:`` URI (RFC 3261 §19.1); ``user`` keeps any ``:password``."""

    scheme: str
    host: str
    user: str | None = None
    port: int | None = None
    params: Params = ()
    headers: str = ""

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP URI; other schemes (``tel:``) are rejected with 400."""
        scheme, colon, rest = text.strip().partition(":")
        if not colon or scheme.lower() not in ("sip", "sips"):
            raise ProtocolError("not a sip: URI")
        rest, _, headers = rest.partition("?")
        user: str | None = None
        if "@" in rest:
            user, _, rest = rest.rpartition("@")
            if not user:
                raise ProtocolError("empty user part")
        hostport, _, param_text = rest.partition(";")
        host, port = _split_hostport(hostport)
        return cls(scheme.lower(), host, user, port, parse_params(param_text), headers)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user is not None else ""
        headers = f"?{self.headers}" if self.headers else ""
        hostport = _format_hostport(self.host, self.port)
        return f"{self.scheme}:{user}{hostport}{format_params(self.params)}{headers}"

    def param(self, name: str) -> str | None:
        """A URI parameter ("" for a flag such as ``lr``), None if absent."""
        return get_param(self.params, name)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From / To / Contact / Route / Record-Route value: ``"Name" <uri>;params``.

    ``uri`` is kept as text (it may be ``tel:`` or ``*``); :meth:`SipUri.parse` it when
    it must be routed to.
    """

    uri: str
    display_name: str | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse the name-addr or addr-spec form (in the latter, ``;`` starts header params)."""
        value = text.strip()
        display: str | None = None
        if value.startswith('"'):
            end = 1
            while end < len(value) and value[end] != '"':
                end += 2 if value[end] == "\\" else 1
            if end >= len(value):
                raise ProtocolError("unterminated display name")
            display = value[1:end]
            value = value[end + 1 :].lstrip()
            if not value.startswith("<"):
                raise ProtocolError("display name without <uri>")
        lt = value.find("<")
        if lt >= 0:
            gt = value.find(">", lt)
            if gt < 0:
                raise ProtocolError("unterminated <uri>")
            if display is None and value[:lt].strip():
                display = value[:lt].strip()
            uri, tail = value[lt + 1 : gt].strip(), value[gt + 1 :]
        else:
            uri, _, tail = value.partition(";")
            uri = uri.strip()
            tail = ";" + tail if tail else ""
        if not uri or any(c in uri for c in ' \t<>"'):
            raise ProtocolError("bad URI in address")
        if tail.strip() and not tail.lstrip().startswith(";"):
            raise ProtocolError("garbage after address")
        return cls(uri, display, parse_params(tail))

    def __str__(self) -> str:
        name = ""
        if self.display_name is not None:  # tokens go bare (``Bob <sip:…>``), the rest quoted
            bare = _TOKENS.fullmatch(self.display_name)
            name = f"{self.display_name} " if bare else f'"{self.display_name}" '

        return f"{name}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (dialog identifier half), None if absent."""
        return get_param(self.params, "tag") or None

    def with_tag(self, tag: str) -> NameAddr:
        """This address with ``tag`` set."""
        return replace(self, params=set_param(self.params, "tag", tag))


@dataclass(frozen=True, slots=True)
class Via:
    """One Via hop (RFC 3261 §20.42, RFC 3581 ``rport``)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse ``SIP/2.0/UDP host:port;branch=…``."""
        proto, _, rest = text.strip().partition(" ")
        parts = [p.strip() for p in proto.split("/")]
        if len(parts) != 3 or parts[0].upper() != "SIP" or parts[1] != "2.0":
            raise ProtocolError("bad Via protocol")
        if not _TOKEN.fullmatch(parts[2]):
            raise ProtocolError("bad Via transport")
        hostport, _, param_text = rest.strip().partition(";")
        host, port = _split_hostport(hostport.strip())
        return cls(parts[2].upper(), host, port, parse_params(param_text))

    def __str__(self) -> str:
        hostport = _format_hostport(self.host, self.port)
        return f"SIP/2.0/{self.transport} {hostport}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        """The transaction id (``z9hG4bK…`` for RFC 3261 peers), None if absent."""
        return get_param(self.params, "branch") or None

    @property
    def received(self) -> str | None:
        """The source address the next hop saw, when it differed from ``host``."""
        return get_param(self.params, "received") or None

    @property
    def rport(self) -> int | None:
        """The source port filled in by the next hop (RFC 3581), None if absent or empty."""
        value = get_param(self.params, "rport")
        return int(value) if value and value.isdigit() else None

    @property
    def wants_rport(self) -> bool:
        """True when the sender asked for ``rport`` (symmetric response routing)."""
        return get_param(self.params, "rport") is not None

    def with_params(self, **values: str | None) -> Via:
        """This Via with parameters set (``received="192.0.2.1", rport="5060"``)."""
        params = self.params
        for name, value in values.items():
            params = set_param(params, name, value)
        return replace(self, params=params)


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: 314159 INVITE`` (RFC 3261 §20.16)."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse a CSeq value; the number must fit in 31 bits."""
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit() or not _TOKEN.fullmatch(parts[1]):
            raise ProtocolError("bad CSeq")
        seq = int(parts[0])
        if seq > _MAX_CSEQ:
            raise ProtocolError("CSeq out of range")
        return cls(seq, parts[1])

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def is_token(text: str) -> bool:
    """True when ``text`` is an RFC 3261 token (method names, header names, tags)."""
    return bool(_TOKEN.fullmatch(text))
