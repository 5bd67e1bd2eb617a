"""Outbound registration (RFC 3261 §10) as pure values: the REGISTER requests of one
binding, and what the registrar's answer means for the next one.

A :class:`Binding` is one address-of-record (``sip:username@registrar-host``) bound to our
Contact at one registrar. Its REGISTERs share a Call-ID and From tag, CSeq going up (§10.2.4
lets the registrar order them); a refresh is the same request again, an un-REGISTER asks for
``Expires: 0``. The registrar's 2xx says how long the binding lasts (our Contact's
``expires`` parameter, else ``Expires``, §10.2.4); :func:`refresh_after` says when to renew.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace

from voxplane.errors import ProtocolError
from voxplane.transports.sip.headers import NameAddr, get_param
from voxplane.transports.sip.message import Headers, SipRequest, SipResponse

REGISTER_EXPIRES_S = 3600
"""How long we ask a binding to last."""
RETRY_S = 60.0
"""After a failure without ``Retry-After``, try again this much later."""
MAX_RETRY_S = 3600.0


@dataclass(frozen=True, slots=True)
class Binding:
    """One registration: ``username`` at ``registrar`` (``host[:port]``), reached at
    ``contact`` (our Contact URI, without ``<>``)."""

    registrar: str
    username: str
    contact: str
    transport: str = "UDP"
    call_id: str = field(default_factory=lambda: f"{secrets.token_hex(16)}@voxplane")
    tag: str = field(default_factory=lambda: secrets.token_hex(6))
    cseq: int = 0

    @property
    def host(self) -> str:
        """The registrar's host without its port (the domain of the address-of-record)."""
        if self.registrar.startswith("["):
            return self.registrar.partition("]")[0] + "]"
        return self.registrar.partition(":")[0]

    @property
    def uri(self) -> str:
        """The REGISTER's Request-URI: the registrar (§10.2)."""
        suffix = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
        return f"sip:{self.registrar}{suffix}"

    @property
    def aor(self) -> str:
        return f"<sip:{self.username}@{self.host}>"

    def request(
        self,
        *,
        via: str,
        expires: int = REGISTER_EXPIRES_S,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> tuple[Binding, SipRequest]:
        """The next REGISTER (CSeq + 1) asking for ``expires`` seconds (0: remove our
        binding); ``headers`` adds e.g. the ``Authorization`` answering a challenge."""
        binding = replace(self, cseq=self.cseq + 1)
        pairs = [
            ("Via", via),
            ("Max-Forwards", "70"),
            ("From", f"{self.aor};tag={self.tag}"),
            ("To", self.aor),
            ("Call-ID", self.call_id),
            ("CSeq", f"{binding.cseq} REGISTER"),
            ("Contact", f"<{self.contact}>"),
            ("Expires", str(expires)),
            *headers,
        ]
        return binding, SipRequest("REGISTER", self.uri, Headers.of(pairs))


def granted_expires(response: SipResponse, contact: str, asked: int) -> int:
    """How long the registrar keeps our binding, from its 2xx: our Contact's ``expires``
    parameter, else the ``Expires`` header, else what we asked for (§10.2.4)."""
    for value in response.headers.get_all("Contact"):
        try:
            address = NameAddr.parse(value)
        except ProtocolError:
            continue
        if address.uri == contact:
            granted = _seconds(get_param(address.params, "expires"))
            if granted is not None:
                return granted
    granted = _seconds(response.headers.get("Expires"))
    return granted if granted is not None else asked


def refresh_after(granted: int) -> float:
    """Seconds after a successful REGISTER to renew it: half of a short grant, a minute
    before the end of a long one (well before it lapses either way)."""
    return max(1.0, granted / 2 if granted <= 120 else granted - 60.0)


def retry_after(response: SipResponse | None, failures: int) -> float:
    """When to try again after a failed REGISTER: the registrar's ``Retry-After``, else
    :data:`RETRY_S` doubling with each failure in a row, at most :data:`MAX_RETRY_S`."""
    if response is not None:
        value = (response.headers.get("Retry-After") or "").split(";")[0].split("(")[0]
        asked = _seconds(value)
        if asked is not None:
            return float(min(max(asked, 1), MAX_RETRY_S))
    return min(RETRY_S * 2.0 ** max(failures - 1, 0), MAX_RETRY_S)


def min_expires(response: SipResponse) -> int | None:
    """A 423 (Interval Too Brief)'s ``Min-Expires``: ask for that much instead."""
    return _seconds(response.headers.get("Min-Expires")) if response.status == 423 else None


def _seconds(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) <= 10 else None
