"""Where a tenant's outbound requests may go (webhooks, an LLM agent's HTTP tools): the SSRF
policy, checked when the URL is saved and again, after DNS resolution, right before every
request (the request then goes to the address that was checked, so a name that re-resolves
elsewhere cannot slip past).

Refused always: anything but http(s), credentials in the URL, and addresses that are
link-local (cloud metadata at 169.254.169.254 among them), multicast, unspecified or
reserved. Refused unless the deployment allows private networks: loopback and private
ranges (RFC 1918, unique-local IPv6, CGNAT…).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from voxplane.errors import InvalidError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """The URL's host is, or resolves to, an address the policy refuses."""


@dataclass(frozen=True)
class Target:
    """A URL split for a pinned request."""

    scheme: str
    host: str
    port: int
    path: str
    """Path and query, as given."""


def parse_url(url: str, *, allow_private: bool, field: str = "url") -> Target:
    """``url`` checked for shape and, when its host is an IP literal, its address;
    :class:`InvalidError` naming ``field`` otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise InvalidError("not a URL", field=field) from error
    if parts.scheme not in {"http", "https"}:
        raise InvalidError("use an http or https URL", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidError("the URL cannot carry credentials", field=field)
    host = (parts.hostname or "").rstrip(".")
    if not host or any(c.isspace() for c in url):
        raise InvalidError("the URL has no host", field=field)
    if parts.fragment:
        raise InvalidError("the URL cannot have a fragment", field=field)
    literal = _literal(host)
    if literal is not None:
        problem = refusal(literal, allow_private=allow_private)
        if problem is not None:
            raise InvalidError(f"the URL points at {problem}", field=field)
    elif not allow_private and (host.lower() == "localhost" or host.endswith(".localhost")):
        raise InvalidError("the URL points at a loopback address", field=field)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default, path)


@dataclass(frozen=True)
class Pinned:
    """A request to ``target`` that goes to the ``address`` that was checked: the URL to
    send to, its ``Host`` header and, for https, the name for TLS (SNI and certificate)."""

    url: str
    host_header: str
    extensions: dict[str, str]


def pin(target: Target, address: IpAddress, path: str | None = None) -> Pinned:
    """``target`` (or ``path`` on its host) pinned to ``address``."""
    host = f"[{address}]" if address.version == 6 else str(address)
    url = f"{target.scheme}://{host}:{target.port}{target.path if path is None else path}"
    default = 443 if target.scheme == "https" else 80
    named = f"[{target.host}]" if ":" in target.host else target.host
    header = named if target.port == default else f"{named}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return Pinned(url, header, extensions)


def refusal(address: IpAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` is refused, or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:  # before reserved: ::1 lies in IPv6's reserved ::/8
        return None if allow_private else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return None if allow_private else "a private address"
    return None


async def resolve(target: Target, *, allow_private: bool) -> IpAddress:
    """The first address ``target.host`` resolves to, every one of them checked;
    :class:`BlockedAddress` when any is refused or none is found."""
    literal = _literal(target.host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise BlockedAddress(f"cannot resolve {target.host}") from error
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise BlockedAddress(f"{target.host} has no address")
    for address in addresses:
        problem = refusal(address, allow_private=allow_private)
        if problem is not None:
            raise BlockedAddress(f"{target.host} resolves to {problem}")
    return addresses[0]


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
