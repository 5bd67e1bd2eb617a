"""A new inbound INVITE, from its arrival to the call being up (or refused).

The endpoint checks what SIP itself decides (a usable SDP offer with a common codec: 400 /
488) and hands the rest to the application's handler as an :class:`InboundCall`: it
screens the source and number, challenges for digest credentials, admits the call, then
:meth:`InboundCall.answer` sends 180/200 with the SDP answer and returns the call once the
caller's ACK arrives. A CANCEL before the answer ends it with 487.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING

from voxplane.errors import CallError, ProtocolError
from voxplane.transports.base import CallInfo, Dtmf
from voxplane.transports.sip.call import SipCall
from voxplane.transports.sip.dialog import Dialog
from voxplane.transports.sip.digest import Challenge, Credentials
from voxplane.transports.sip.headers import NameAddr
from voxplane.transports.sip.media import RtpSession
from voxplane.transports.sip.message import SipRequest
from voxplane.transports.sip.network import Flow
from voxplane.transports.sip.offer_answer import LocalMedia, answer_offer
from voxplane.transports.sip.sdp import SessionDescription, parse_sdp
from voxplane.transports.sip.transaction import server_key

if TYPE_CHECKING:
    from voxplane.transports.sip.endpoint import SipEndpoint

log = logging.getLogger(__name__)


def _offer(request: SipRequest) -> SessionDescription:
    """The SDP offer of an INVITE; ProtocolError (400/415/488) when there is none to use."""
    if not request.body:
        raise ProtocolError("an SDP offer is required in the INVITE", status=488)
    if request.content_type != "application/sdp":
        raise ProtocolError("only application/sdp bodies are accepted", status=415)
    return parse_sdp(request.body)


class InboundCall:
    """An INVITE that opens a dialog, until answered, refused or cancelled."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        request: SipRequest,
        flow: Flow,
        offer: SessionDescription,
        info: CallInfo,
    ) -> None:
        self.endpoint = endpoint
        self.request = request
        self.flow = flow
        self.offer = offer
        self.info = info
        self.to_tag = secrets.token_hex(6)
        self.cancelled = asyncio.Event()
        self.finished = False
        self._call: SipCall | None = None

    @classmethod
    def receive(cls, endpoint: SipEndpoint, request: SipRequest, flow: Flow) -> InboundCall | None:
        """Check the offer (answering 400/415/488 itself); None when refused here."""
        try:
            if request.contact is None:
                raise ProtocolError("an INVITE needs a Contact")
            offer = _offer(request)
            probe = LocalMedia(endpoint.config.advertised.strip("[]"), 9, 1)
            answer_offer(offer, probe)  # 488 when no codec is common
        except ProtocolError as error:
            endpoint.reply(request, flow, error.status, str(error.message)[:80])
            return None
        dialled = dialled_user(request)
        caller = user_of(request.headers.get("From") or "")
        info = CallInfo(request.call_id, "sip", "inbound", caller, dialled)
        return cls(endpoint, request, flow, offer, info)

    @property
    def source(self) -> str:
        """The IP address the INVITE came from (what trunk allowlists are checked against)."""
        return self.flow.host

    @property
    def key(self) -> tuple[str, str, str]:
        """The INVITE's server transaction."""
        return server_key(self.request)

    async def handle(self) -> None:
        """Run the application's handler; a call it left unanswered gets 500."""
        try:
            await self.endpoint.on_invite(self)
        except Exception:
            log.exception("inbound call handler failed")
        finally:
            if not self.finished:
                self.reject(500)

    def reject(
        self, status: int, reason: str | None = None, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        if self.finished:
            return
        self.finished = True
        self.endpoint.pending.pop(self.key, None)
        self.endpoint.reply(
            self.request, self.flow, status, reason, to_tag=self.to_tag, headers=headers
        )

    def credentials(self) -> Credentials | None:
        """The digest credentials the INVITE carries, None when absent or malformed."""
        value = self.request.headers.get("Authorization")
        if value is None:
            return None
        try:
            return Credentials.parse(value)
        except ProtocolError:
            return None

    def challenge(self, challenge: Challenge) -> None:
        """401 with ``WWW-Authenticate``: the caller resends the INVITE with credentials."""
        if self.finished:
            return
        self.finished = True
        self.endpoint.pending.pop(self.key, None)
        header = ("WWW-Authenticate", challenge.encode())
        self.endpoint.reply(self.request, self.flow, 401, to_tag=self.to_tag, headers=(header,))

    def cancel(self) -> None:
        """The caller's CANCEL arrived: 487 unless the call is already answered."""
        if not self.finished:
            self.reject(487)
        self.cancelled.set()

    def ring(self) -> None:
        if not self.finished:
            self.endpoint.reply(self.request, self.flow, 180, to_tag=self.to_tag)

    async def answer(self) -> SipCall:
        """200 OK with the SDP answer; returns once ACKed. Raises :class:`CallError` when
        the caller cancelled first or never acknowledged (the call is then hung up)."""
        endpoint = self.endpoint
        rtp_host = endpoint.config.rtp_host or endpoint.config.host
        rtp = await RtpSession.open(endpoint.ports, rtp_host, self._on_dtmf, self.flow.host)
        if self.finished:
            await rtp.aclose()
            raise CallError("the caller cancelled before the answer")
        request = self.request
        session_id = secrets.randbelow(2**31)
        local = LocalMedia(endpoint.config.advertised.strip("[]"), rtp.port, session_id)
        sdp, media = answer_offer(self.offer, local)
        rtp.update(media)
        dialog = Dialog.as_uas(request, self.to_tag, endpoint.contact(self.flow.transport))
        call = SipCall(endpoint, dialog, self.flow, self.info, rtp)
        call.sdp_session = (session_id, 1)
        self._call = call
        endpoint.track(call)
        headers = (
            *(("Record-Route", r) for r in dialog.route_set),
            ("Contact", endpoint.contact(self.flow.transport)),
            ("Content-Type", "application/sdp"),
        )
        self.finished = True
        endpoint.pending.pop(self.key, None)
        endpoint.reply(
            request, self.flow, 200, to_tag=self.to_tag, headers=headers, body=sdp.encode()
        )
        rtp.start()
        if not await endpoint.acked(request):
            await call.aclose()
            raise CallError("the caller never acknowledged the answer")
        return call

    def _on_dtmf(self, key: Dtmf) -> None:
        if self._call is not None:
            self._call.on_dtmf(key)


async def reinvite(endpoint: SipEndpoint, call: SipCall, request: SipRequest, flow: Flow) -> None:
    """A re-INVITE in the call's dialog: hold, unhold or a new address (RFC 3264 §8)."""
    try:
        offer = _offer(request)
        session_id, version = call.sdp_session
        address = endpoint.config.advertised.strip("[]")
        local = LocalMedia(address, call.rtp.port, session_id, version + 1)
        sdp, media = answer_offer(offer, local)
    except ProtocolError as error:
        endpoint.reply(request, flow, error.status, str(error.message)[:80])
        return
    call.sdp_session = (session_id, version + 1)
    call.rtp.update(media)  # the dialog took the new Contact when the request arrived
    headers = (
        ("Contact", endpoint.contact(flow.transport)),
        ("Content-Type", "application/sdp"),
    )
    endpoint.reply(request, flow, 200, headers=headers, body=sdp.encode())
    await endpoint.acked(request)


def dialled_user(request: SipRequest) -> str | None:
    """Who was dialled: the Request-URI's user when it is a number; else (a registrar
    calling the Contact we registered, ``sip:acme@…``) the To header's user."""
    target = user_of(f"<{request.uri}>")
    if target is not None and target.lstrip("+").isdigit():
        return target
    return user_of(request.headers.get("To") or "") or target


def user_of(address: str) -> str | None:
    """The user part of a From/To address or URI (``+15550100``), or None."""
    try:
        uri = NameAddr.parse(address).uri
    except ProtocolError:
        return None
    scheme, _, rest = uri.partition(":")
    if scheme.lower() == "tel":
        return rest.split(";")[0] or None
    user = rest.split("@")[0] if "@" in rest else None
    return user.split(";")[0] if user else None
