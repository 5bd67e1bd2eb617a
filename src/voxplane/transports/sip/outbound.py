"""Placing a call through a SIP trunk: INVITE with our SDP offer, digest on 401/407,
ACK, and the call up with the answer's media (RFC 3261 §13.2, §22.2).

Only the trunk's address appears in the Request-URI, From and To; our own side is the
configured public address (Via, Contact, SDP).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voxplane.errors import CallError, ProtocolError
from voxplane.transports.base import CallInfo, Dtmf
from voxplane.transports.sip.call import SipCall
from voxplane.transports.sip.dialog import Dialog
from voxplane.transports.sip.digest import answer_challenge
from voxplane.transports.sip.media import RtpSession
from voxplane.transports.sip.message import Headers, SipRequest, SipResponse
from voxplane.transports.sip.network import Flow, TransportName
from voxplane.transports.sip.offer_answer import LocalMedia, accept_answer, create_offer
from voxplane.transports.sip.sdp import SessionDescription, parse_sdp
from voxplane.transports.sip.transaction import make_cancel

if TYPE_CHECKING:
    from voxplane.transports.sip.endpoint import SipEndpoint


@dataclass(frozen=True, slots=True)
class DialTarget:
    """Where and how to place one call."""

    address: str
    """The trunk's ``host[:port]`` (port 5060 when left out)."""
    to_number: str
    from_number: str
    transport: TransportName = "UDP"
    username: str | None = None
    password: str | None = field(default=None, repr=False)


class CallFailed(CallError):
    """The far end did not answer: ``status`` is its final SIP response (408 on timeout)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def split_address(address: str) -> tuple[str, int]:
    """``host[:port]`` or ``[v6][:port]`` → (host, port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 5060
    host, _, port = address.partition(":")
    return host, int(port) if port else 5060


async def resolve(address: str, transport: TransportName) -> tuple[str, int]:
    host, port = split_address(address)
    kind = socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=kind)
    if not infos:
        raise CallFailed(404, f"cannot resolve {host}")
    sockaddr = infos[0][4]
    return str(sockaddr[0]), int(sockaddr[1])


class _Invite:
    """One outbound INVITE's requests: the same Call-ID and From tag, CSeq going up."""

    def __init__(
        self, endpoint: SipEndpoint, target: DialTarget, flow: Flow, call_id: str, offer: bytes
    ) -> None:
        self.endpoint = endpoint
        self.target = target
        self.flow = flow
        self.call_id = call_id
        self.offer = offer
        self.tag = secrets.token_hex(6)
        suffix = "" if target.transport == "UDP" else f";transport={target.transport.lower()}"
        self.uri = f"sip:{target.to_number}@{target.address}{suffix}"
        self.local = f"<sip:{target.from_number}@{target.address}>"
        self.remote = f"<sip:{target.to_number}@{target.address}>"
        self.cseq = 1

    def request(self, auth: tuple[str, str] | None = None) -> SipRequest:
        pairs = [
            ("Via", self.endpoint.via(self.flow.transport)),
            ("Max-Forwards", "70"),
            ("From", f"{self.local};tag={self.tag}"),
            ("To", self.remote),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} INVITE"),
            ("Contact", self.endpoint.contact(self.flow.transport)),
            *self.endpoint.common_headers(),
            ("Content-Type", "application/sdp"),
            *([auth] if auth else []),
        ]
        return SipRequest("INVITE", self.uri, Headers.of(pairs), self.offer)


async def place_call(endpoint: SipEndpoint, target: DialTarget, call_id: str) -> SipCall:
    """Dial ``target``; returns the call once answered and ACKed, or raises
    :class:`CallFailed` (busy, declined, no answer, unreachable)."""
    remote = await resolve(target.address, target.transport)
    flow = await endpoint.network.connect(target.transport, remote)
    holder: list[SipCall] = []
    rtp_host = endpoint.config.rtp_host or endpoint.config.host
    rtp = await RtpSession.open(endpoint.ports, rtp_host, lambda key: _dtmf(holder, key), remote[0])
    try:
        address = endpoint.config.advertised.strip("[]")
        session_id = secrets.randbelow(2**31)
        offer = create_offer(LocalMedia(address, rtp.port, session_id))
        invite = _Invite(endpoint, target, flow, call_id, offer.encode())
        response, request = await _invite(invite)
    except BaseException:
        await rtp.aclose()
        raise
    dialog = Dialog.as_uac(request, response)
    try:
        media = accept_answer(offer, _answer_sdp(response))
    except (CallFailed, ProtocolError):
        # answered with media we cannot use: acknowledge, then end it (RFC 3261 §13.2.2.4)
        endpoint.network.send(
            flow, dialog.ack(invite.cseq, via=endpoint.via(flow.transport)).encode()
        )
        _, bye = dialog.request("BYE", via=endpoint.via(flow.transport))
        endpoint.spawn(_quietly(endpoint.transact(flow, bye)))
        await rtp.aclose()
        raise
    info = CallInfo(call_id, "sip", "outbound", target.from_number, target.to_number)
    call = SipCall(endpoint, dialog, flow, info, rtp)
    ack = dialog.ack(invite.cseq, via=endpoint.via(flow.transport))
    call.last_ack = ack.encode()
    endpoint.network.send(flow, call.last_ack)
    rtp.update(media)
    rtp.start()
    call.sdp_session = (session_id, 1)
    holder.append(call)
    endpoint.track(call)
    return call


async def _invite(invite: _Invite) -> tuple[SipResponse, SipRequest]:
    """Send the INVITE, answering one digest challenge; the 2xx and the request it answers.
    (The INVITE's client transaction ACKs every non-2xx itself.)"""
    auth: tuple[str, str] | None = None
    for _ in range(2):
        request = invite.request(auth)
        response = await _ring(invite, request)
        if response.status < 300:
            return response, request
        target = invite.target
        auth = None
        if target.username is not None and target.password is not None:
            auth = answer_challenge(
                response, request, username=target.username, password=target.password
            )
        if auth is None:
            raise CallFailed(response.status, f"{response.status} {response.reason}")
        invite.cseq += 1
    raise CallFailed(403, "the trunk refused our credentials")


async def _ring(invite: _Invite, request: SipRequest) -> SipResponse:
    """The INVITE's final response; after the endpoint's ``ring_timeout_s`` the INVITE is
    CANCELled and its final response (487, or a 2xx that crossed the CANCEL) awaited."""
    endpoint, flow = invite.endpoint, invite.flow
    pending = asyncio.ensure_future(endpoint.transact(flow, request))
    try:
        done, _ = await asyncio.wait({pending}, timeout=endpoint.config.ring_timeout_s)
        if not done:
            with contextlib.suppress(CallError):
                await endpoint.transact(flow, make_cancel(request))
            async with asyncio.timeout(64 * endpoint.timers.t1):
                return await pending
        return pending.result()
    except (CallError, TimeoutError) as error:
        raise CallFailed(408, "no answer") from error
    finally:
        pending.cancel()


def _answer_sdp(response: SipResponse) -> SessionDescription:
    if not response.body:
        raise CallFailed(488, "the answer carried no SDP")
    return parse_sdp(response.body)


def _dtmf(holder: list[SipCall], key: Dtmf) -> None:
    if holder:
        holder[0].on_dtmf(key)


async def _quietly(request: Awaitable[SipResponse]) -> None:
    with contextlib.suppress(CallError):
        await request
