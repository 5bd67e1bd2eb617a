"""The asyncio SIP user agent: requests and responses in, transactions and dialogs kept.

Parsing, SDP, offer/answer, digest and the RFC 3261 transaction state machines are the
pure modules of this package, run on the loop by :mod:`.transactions`; this module is the
transaction user: it routes new requests and responses between the sockets
(:mod:`.network`), new calls (:mod:`.inbound`, :mod:`.outbound`), calls in progress
(:mod:`.call`) and registrations (:mod:`.registrations`).

- **Requests.** An INVITE without a To tag is a new call (at most
  :data:`MAX_PENDING_INVITES` screened at once); a CANCEL ends a pending INVITE with 487;
  requests inside a dialog go to its call (BYE, re-INVITE, NOTIFY of a REFER); OPTIONS
  gets 200 (trunk keep-alives).
- **Topology hiding.** Everything we originate carries only the configured public address
  (Via, Contact, SDP); responses copy what RFC 3261 requires of the request and nothing else.

Bad input never escapes: an unparsable datagram is dropped, a request with a bad header
gets 400, a stream that loses framing is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from voxplane.errors import ProtocolError
from voxplane.transports.sip.call import SipCall
from voxplane.transports.sip.inbound import InboundCall, reinvite
from voxplane.transports.sip.media import RtpPortPool
from voxplane.transports.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
    stamp_via,
)
from voxplane.transports.sip.network import Flow, SipNetwork, TransportName
from voxplane.transports.sip.registrations import Registrations
from voxplane.transports.sip.transaction import Timers, cancelled_key, new_branch, server_key
from voxplane.transports.sip.transactions import Transactions

log = logging.getLogger(__name__)

MAX_PENDING_INVITES = 256
"""INVITEs being screened or answered at once; more get 503 (a flood cannot pile up)."""
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO"
USER_AGENT = "voxplane"


@dataclass(frozen=True, slots=True)
class SipConfig:
    """Where the endpoint listens and what it tells peers about itself."""

    host: str = "127.0.0.1"
    port: int = 5060
    public_address: str | None = None
    """The address in Via, Contact and SDP (behind NAT: the public one); default ``host``."""
    rtp_host: str | None = None
    """Where RTP sockets bind; default ``host``."""
    tls: ssl.SSLContext | None = None
    tls_port: int = 5061
    realm: str = "voxplane"
    """The digest realm of inbound challenges."""
    timers: Timers = field(default_factory=Timers)
    ring_timeout_s: float = 32.0
    """How long an outbound call may ring before it is CANCELled (no answer)."""

    @property
    def advertised(self) -> str:
        address = self.public_address or self.host
        return f"[{address}]" if ":" in address and not address.startswith("[") else address


InviteHandler = Callable[[InboundCall], Awaitable[None]]
"""Called with each new INVITE that opens a dialog (its offer already checked)."""


class SipEndpoint:
    """One SIP user agent for the process: listens, answers, places calls."""

    def __init__(self, config: SipConfig, ports: RtpPortPool, on_invite: InviteHandler) -> None:
        self.config = config
        self.ports = ports
        self.on_invite = on_invite
        self.network = SipNetwork(self._receive)
        self.calls: dict[tuple[str, str], SipCall] = {}
        self.pending: dict[tuple[str, str, str], InboundCall] = {}
        """INVITE server transaction → its InboundCall, until the final response."""
        self.transactions = Transactions(
            self.network.send, self._dispatch, self._late_2xx, config.timers
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self.registrations = Registrations(self)
        """Where this endpoint keeps itself registered (trunks with a registrar)."""

    # --- lifetime --------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        await self.network.start(cfg.host, cfg.port, tls=cfg.tls, tls_port=cfg.tls_port)

    @property
    def port(self) -> int:
        return self.network.ports["UDP"]

    @property
    def timers(self) -> Timers:
        return self.config.timers

    def spawn(self, job: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``job`` owned by the endpoint: cancelled and awaited by :meth:`aclose`."""
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        await self.registrations.aclose()  # un-REGISTER while the sockets are open
        for call in list(self.calls.values()):
            with contextlib.suppress(Exception):
                await call.aclose()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self.transactions.close()
        await self.network.aclose()

    def forget(self, call: SipCall) -> None:
        self.calls.pop((call.dialog.call_id, call.dialog.local_tag), None)

    def track(self, call: SipCall) -> None:
        """Route the requests of ``call``'s dialog to it from now on."""
        self.calls[(call.dialog.call_id, call.dialog.local_tag)] = call

    # --- building messages -----------------------------------------------------------

    def via(self, transport: TransportName) -> str:
        where = f"{self.config.advertised}:{self.port_for(transport)}"
        return f"SIP/2.0/{transport} {where};branch={new_branch()};rport"

    def port_for(self, transport: TransportName) -> int:
        return self.network.ports.get(transport, self.port)

    def contact(self, transport: TransportName, user: str = "voxplane") -> str:
        suffix = "" if transport == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{user}@{self.config.advertised}:{self.port_for(transport)}{suffix}>"

    def common_headers(self) -> tuple[tuple[str, str], ...]:
        return (("Allow", ALLOW), ("User-Agent", USER_AGENT))

    # --- receiving -------------------------------------------------------------------

    def _receive(self, data: bytes, flow: Flow) -> None:
        if not data.strip():
            return  # keep-alive
        try:
            message = parse_message(data)
        except SipParseError as error:
            if error.request is not None:
                self.reply(error.request, flow, error.status, str(error.message)[:60])
            return
        try:
            if isinstance(message, SipRequest):
                self.transactions.on_request(stamp_via(message, flow.host, flow.remote[1]), flow)
            else:
                self.transactions.on_response(message)
        except Exception:  # a bug must not take the listener down with it
            log.exception("sip message handling failed")

    def _dispatch(self, request: SipRequest, flow: Flow) -> None:
        """A new request (its server transaction opened) for us, the transaction user."""
        if request.method == "CANCEL":
            self._on_cancel(request, flow)
            return
        if request.to.tag:
            self._in_dialog(request, flow)
            return
        match request.method:
            case "INVITE":
                self._new_invite(request, flow)
            case "OPTIONS":
                self.reply(request, flow, 200, headers=(("Accept", "application/sdp"),))
            case "BYE" | "NOTIFY" | "INFO" | "REFER":
                self.reply(request, flow, 481)
            case _:
                self.reply(request, flow, 405)

    def _new_invite(self, request: SipRequest, flow: Flow) -> None:
        if len(self.pending) >= MAX_PENDING_INVITES:
            self.reply(request, flow, 503, headers=(("Retry-After", "5"),))
            return
        inbound = InboundCall.receive(self, request, flow)
        if inbound is None:
            return
        self.pending[server_key(request)] = inbound
        self.spawn(inbound.handle())

    def _on_cancel(self, request: SipRequest, flow: Flow) -> None:
        inbound = self.pending.get(cancelled_key(request))
        if inbound is None:
            self.reply(request, flow, 481)
            return
        self.reply(request, flow, 200)
        inbound.cancel()

    def _in_dialog(self, request: SipRequest, flow: Flow) -> None:
        call = self.calls.get((request.call_id, request.to.tag or ""))
        if call is None:
            self.reply(request, flow, 481)
            return
        try:
            call.dialog = call.dialog.on_request(request)
        except ProtocolError as error:  # a CSeq out of order: 500
            self.reply(request, flow, error.status, error.message)
            return
        match request.method:
            case "BYE":
                self.reply(request, flow, 200)
                call.on_remote_hangup()
            case "INVITE":
                self.spawn(reinvite(self, call, request, flow))
            case "NOTIFY":
                self.reply(request, flow, 200)
                call.on_notify(request.body)
            case "INFO" | "OPTIONS":
                self.reply(request, flow, 200)
            case _:
                self.reply(request, flow, 501)

    def _late_2xx(self, response: SipResponse) -> None:
        """A 2xx to our INVITE retransmitted after the call is up: ACK it again."""
        call = self.calls.get((response.call_id, response.from_.tag or ""))
        if call is not None and call.last_ack is not None:
            self.network.send(call.flow, call.last_ack)

    # --- sending ---------------------------------------------------------------------

    def reply(
        self,
        request: SipRequest,
        flow: Flow,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
    ) -> None:
        """Respond through the request's server transaction (which retransmits a final
        response as RFC 3261 says); to the address the request came from (RFC 3581)."""
        request = stamp_via(request, flow.host, flow.remote[1])
        response = make_response(
            request,
            status,
            reason,
            to_tag=to_tag,
            headers=(*headers, *self.common_headers()),
            body=body,
        )
        self.transactions.respond(request, response, flow)

    async def acked(self, invite: SipRequest) -> bool:
        """Wait for the ACK of the 2xx just sent to ``invite``: False after 64×T1."""
        return await self.transactions.acked(invite)

    async def transact(
        self,
        flow: Flow,
        request: SipRequest,
        on_provisional: Callable[[SipResponse], None] | None = None,
    ) -> SipResponse:
        """Send ``request`` as a client transaction and return its final response.

        Raises :class:`CallError` after 64×T1 without one (the 408 of RFC 3261 §17.1).
        A pending INVITE stays a transaction after a provisional response: the caller
        bounds how long it rings (and CANCELs)."""
        return await self.transactions.transact(flow, request, on_provisional)

    async def request_in_dialog(
        self,
        call: SipCall,
        method: str,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
    ) -> SipResponse:
        """Send ``method`` in the call's dialog (next CSeq, its route set) and wait for the
        final response."""
        extra = (*headers, ("User-Agent", USER_AGENT))
        via = self.via(call.flow.transport)
        call.dialog, request = call.dialog.request(method, via=via, headers=extra, body=body)
        return await self.transact(call.flow, request)
