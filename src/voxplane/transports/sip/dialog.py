"""SIP dialogs (RFC 3261 §12): identity, CSeq, route set, remote target, in-dialog requests.

A :class:`Dialog` is a frozen value: methods that change it return the new dialog (the
caller keeps the latest). Build it with :meth:`Dialog.as_uas` when we answer an INVITE, or
:meth:`Dialog.as_uac` from the 2xx (or tagged 1xx) to our INVITE. ``request()`` builds BYE,
re-INVITE, REFER, INFO, NOTIFY… with the next local CSeq and the route set applied (loose
routing, and strict routing for old proxies, §12.2.1.1); ``ack()`` builds the ACK for a 2xx.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from voxplane.errors import ProtocolError
from voxplane.transports.sip.headers import CSeq, NameAddr
from voxplane.transports.sip.message import Headers, SipRequest, SipResponse

# Requests that refresh the target and so carry our Contact (RFC 3261, 3265, 3311, 3515).
_TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "REFER", "SUBSCRIBE", "NOTIFY"})


def _without_tag(address: NameAddr) -> str:
    return str(replace(address, params=tuple(p for p in address.params if p[0].lower() != "tag")))


def _contact_uri(message: SipRequest | SipResponse) -> str:
    contact = message.contact
    if contact is None:
        raise ProtocolError("dialog-creating message without Contact")
    return contact.uri


def _is_loose(route: str) -> bool:
    uri = NameAddr.parse(route).uri
    return any(p.split("=")[0].strip().lower() == "lr" for p in uri.split(";")[1:])


@dataclass(frozen=True, slots=True)
class Dialog:
    """The state of one dialog, from our side."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: tuple[str, ...] = ()
    local_seq: int = 0
    remote_seq: int | None = None
    local_contact: str | None = None

    @classmethod
    def as_uas(cls, invite: SipRequest, local_tag: str, local_contact: str) -> Dialog:
        """The dialog our 2xx (or tagged 1xx) to ``invite`` creates (§12.1.1)."""
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=invite.from_.tag or "",
            local_uri=_without_tag(invite.to),
            remote_uri=_without_tag(invite.from_),
            remote_target=_contact_uri(invite),
            route_set=invite.headers.get_all("Record-Route"),
            local_seq=0,
            remote_seq=invite.cseq.seq,
            local_contact=local_contact,
        )

    @classmethod
    def as_uac(cls, invite: SipRequest, response: SipResponse) -> Dialog:
        """The dialog a 2xx (or tagged 1xx) to our ``invite`` creates (§12.1.2)."""
        remote_tag = response.to.tag
        if remote_tag is None:
            raise ProtocolError("dialog-creating response without To tag")
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_.tag or "",
            remote_tag=remote_tag,
            local_uri=_without_tag(invite.from_),
            remote_uri=_without_tag(response.to),
            remote_target=_contact_uri(response),
            route_set=tuple(reversed(response.headers.get_all("Record-Route"))),
            local_seq=invite.cseq.seq,
            remote_seq=None,
            local_contact=invite.headers.get("Contact"),
        )

    @property
    def id(self) -> tuple[str, str, str]:
        """``(Call-ID, local tag, remote tag)``."""
        return (self.call_id, self.local_tag, self.remote_tag)

    def matches(self, message: SipRequest | SipResponse) -> bool:
        """True when a received request, or a response to our request, is in this dialog."""
        if message.call_id != self.call_id:
            return False
        if isinstance(message, SipRequest):
            ours, theirs = message.to.tag, message.from_.tag
        else:
            ours, theirs = message.from_.tag, message.to.tag
        return ours == self.local_tag and (theirs or "") == self.remote_tag

    def on_request(self, request: SipRequest) -> Dialog:
        """Account a request the peer sent in this dialog (§12.2.2).

        A CSeq lower than the last one raises ``ProtocolError(status=500)``; an INVITE or
        UPDATE with a Contact refreshes the remote target. ACK and CANCEL do not move CSeq.
        """
        seq = request.cseq.seq
        dialog = self
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and seq <= self.remote_seq:
                raise ProtocolError("CSeq out of order", status=500)
            dialog = replace(dialog, remote_seq=seq)
        if request.method in ("INVITE", "UPDATE") and request.contact is not None:
            dialog = replace(dialog, remote_target=request.contact.uri)
        return dialog

    def on_response(self, response: SipResponse) -> Dialog:
        """Account a 2xx to our re-INVITE/UPDATE: its Contact refreshes the remote target."""
        refresh = 200 <= response.status < 300 and response.cseq.method in ("INVITE", "UPDATE")
        contact = response.contact if refresh else None
        return replace(self, remote_target=contact.uri) if contact is not None else self

    def request(
        self,
        method: str,
        *,
        via: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> tuple[Dialog, SipRequest]:
        """The next in-dialog request (``via`` is our top Via with a new branch)."""
        dialog = replace(self, local_seq=self.local_seq + 1)
        return dialog, dialog._build(method, dialog.local_seq, via, headers, body)

    def ack(self, invite_seq: int, *, via: str, body: bytes = b"") -> SipRequest:
        """The ACK for the 2xx to the INVITE with CSeq ``invite_seq`` (§13.2.2.4)."""
        return self._build("ACK", invite_seq, via, (), body)

    def _build(
        self, method: str, seq: int, via: str, extra: Iterable[tuple[str, str]], body: bytes
    ) -> SipRequest:
        uri, routes = self._routing()
        pairs = [("Via", via), *(("Route", r) for r in routes)]
        pairs += [
            ("Max-Forwards", "70"),
            ("From", f"{self.local_uri};tag={self.local_tag}"),
            (
                "To",
                f"{self.remote_uri};tag={self.remote_tag}" if self.remote_tag else self.remote_uri,
            ),
            ("Call-ID", self.call_id),
            ("CSeq", str(CSeq(seq, method))),
        ]
        if method in _TARGET_REFRESH and self.local_contact is not None:
            pairs.append(("Contact", self.local_contact))
        return SipRequest(method, uri, Headers((*pairs, *Headers.of(extra))), body)

    def _routing(self) -> tuple[str, tuple[str, ...]]:
        """Request-URI and Route headers (§12.2.1.1): loose, or strict for a non-lr proxy."""
        if not self.route_set or _is_loose(self.route_set[0]):
            return self.remote_target, self.route_set
        first = NameAddr.parse(self.route_set[0]).uri
        return first, (*self.route_set[1:], f"<{self.remote_target}>")


def sipfrag_status(body: bytes) -> int | None:
    """The status code in a NOTIFY's ``message/sipfrag`` body (RFC 3515 §2.4.5), if any."""
    line = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if len(line) >= 2 and line[0] == "SIP/2.0" and line[1].isdigit() and len(line[1]) == 3:
        return int(line[1])
    return None
