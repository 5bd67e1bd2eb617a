"""The transaction layer of the SIP endpoint: the pure RFC 3261 §17 machines of
:mod:`.transaction` run on the event loop's clock.

Every request but ACK opens a server transaction (an INVITE's answers 100 Trying at once);
a retransmitted request is absorbed by its transaction (the last response again), and the
transaction retransmits its final response as §17.2 says (a 2xx to INVITE until its ACK,
for 64×T1). Every request sent is a client transaction: retransmitted over UDP (Timers A/E),
timing out after 64×T1 (B/F); a non-2xx final response to an INVITE is ACKed by the
transaction, and a 2xx retransmitted after the call is up goes to ``late_2xx`` to be ACKed
again. Transactions end when their machine says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from voxplane.errors import CallError
from voxplane.transports.sip.message import SipRequest, SipResponse, make_response
from voxplane.transports.sip.network import Flow
from voxplane.transports.sip.transaction import (
    Action,
    Deliver,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Send,
    Terminated,
    Timeout,
    Timers,
    client_key,
    server_key,
)

log = logging.getLogger(__name__)

MAX_TRANSACTIONS = 4096
"""Server transactions kept at once; over this, finished ones are forgotten oldest first,
and when none is finished a new request gets a stateless 503."""

ServerMachine = InviteServerTransaction | NonInviteServerTransaction
ClientMachine = InviteClientTransaction | NonInviteClientTransaction
ServerKey = tuple[str, str, str]


@dataclass(slots=True)
class _Server:
    """A server transaction on the loop: the machine, its peer, its timer."""

    machine: ServerMachine
    flow: Flow
    timer: asyncio.TimerHandle | None = None
    acked: asyncio.Future[bool] | None = None
    """For an INVITE answered 2xx: True once ACKed, False when the ACK never came."""


@dataclass(slots=True)
class _Client:
    """A client transaction on the loop; ``final`` resolves with the final response."""

    machine: ClientMachine
    flow: Flow
    final: asyncio.Future[SipResponse]
    on_provisional: Callable[[SipResponse], None] | None
    timer: asyncio.TimerHandle | None = None


class Transactions:
    """The endpoint's server and client transactions.

    ``send(flow, data)`` puts bytes on the wire; ``deliver(request, flow)`` hands a new
    request to the transaction user; ``late_2xx(response)`` gets a 2xx to one of our
    INVITEs retransmitted after its final response was taken."""

    def __init__(
        self,
        send: Callable[[Flow, bytes], None],
        deliver: Callable[[SipRequest, Flow], None],
        late_2xx: Callable[[SipResponse], None],
        timers: Timers,
    ) -> None:
        self._send = send
        self._deliver = deliver
        self._late_2xx = late_2xx
        self.timers = timers
        self._servers: dict[ServerKey, _Server] = {}
        self._accepted: dict[tuple[str, str], _Server] = {}
        """(Call-ID, our tag) → the INVITE transaction whose 2xx waits for its ACK."""
        self._clients: dict[tuple[str, str], _Client] = {}
        self._acks: dict[ServerKey, asyncio.Future[bool]] = {}
        """INVITE answered 2xx → whether its ACK came, until :meth:`acked` takes it."""

    def close(self) -> None:
        """Stop every transaction's timer (the endpoint is closing)."""
        timers = [tx.timer for tx in self._servers.values()]
        timers += [tx.timer for tx in self._clients.values()]
        for timer in timers:
            if timer is not None:
                timer.cancel()

    # --- server side -----------------------------------------------------------------

    def on_request(self, request: SipRequest, flow: Flow) -> None:
        """A request from ``flow`` (its top Via already stamped with where it came from)."""
        if request.method == "ACK":
            self._on_ack(request)
            return
        key = server_key(request)
        known = self._servers.get(key)
        if known is not None:  # a retransmission: the transaction answers it
            self._drive_server(key, known, known.machine.on_message(request, self._now()))
            return
        if not self._room_for_one_more():
            self._stateless(request, flow, 503)
            return
        machine: ServerMachine
        reliable = flow.transport != "UDP"
        if request.method == "INVITE":
            machine = InviteServerTransaction(request, reliable=reliable, timers=self.timers)
        else:
            machine = NonInviteServerTransaction(request, reliable=reliable, timers=self.timers)
        tx = _Server(machine, flow)
        self._servers[key] = tx
        self._drive_server(key, tx, machine.start(self._now()))

    def _on_ack(self, ack: SipRequest) -> None:
        # the ACK of a non-2xx shares its INVITE's branch; the ACK of a 2xx is found
        # through the dialog (RFC 3261 §17.1.1.3)
        key = server_key(ack)
        tx = self._servers.get(key)
        if tx is None:
            tx = self._accepted.get((ack.call_id, ack.to.tag or ""))
            if tx is None or not isinstance(tx.machine, InviteServerTransaction):
                return
            if not tx.machine.acknowledged_by(ack):
                return
            key = server_key(tx.machine.request)
        self._drive_server(key, tx, tx.machine.on_message(ack, self._now()))

    def respond(self, request: SipRequest, response: SipResponse, flow: Flow) -> None:
        """Send ``response`` through ``request``'s server transaction (statelessly when it
        has none: a request that did not parse)."""
        key = server_key(request)
        tx = self._servers.get(key)
        if tx is None:
            self._send(flow, response.encode())
            return
        if request.method == "INVITE" and 200 <= response.status < 300:
            tx.acked = asyncio.get_running_loop().create_future()
            self._accepted[(request.call_id, response.to.tag or "")] = tx
            self._acks[key] = tx.acked
        self._drive_server(key, tx, tx.machine.respond(response, self._now()))

    async def acked(self, invite: SipRequest) -> bool:
        """Wait for the ACK of the 2xx sent to ``invite`` (once per 2xx; the ACK may have
        come already): False when it did not come within 64×T1."""
        acked = self._acks.pop(server_key(invite), None)
        return False if acked is None else await acked

    # --- client side -----------------------------------------------------------------

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
        machine: ClientMachine
        reliable = flow.transport != "UDP"
        if request.method == "INVITE":
            machine = InviteClientTransaction(request, reliable=reliable, timers=self.timers)
        else:
            machine = NonInviteClientTransaction(request, reliable=reliable, timers=self.timers)
        tx = _Client(machine, flow, asyncio.get_running_loop().create_future(), on_provisional)
        self._clients[(request.vias[0].branch or "", request.cseq.method)] = tx
        self._drive_client(tx, machine.start(self._now()))
        try:
            return await asyncio.shield(tx.final)
        finally:
            # The machine ends the transaction (a 2xx to INVITE is kept to be ACKed again,
            # a non-2xx to be ACKed again). A ringing INVITE has no timer left: forget it
            # 64×T1 after the caller stopped waiting (RFC 3261 §9.1 after a CANCEL).
            if not tx.final.done():
                later = 64 * self.timers.t1
                asyncio.get_running_loop().call_later(later, self._end_client, tx)

    def on_response(self, response: SipResponse) -> None:
        """A response: to its client transaction (a stray one is dropped)."""
        if not response.vias:
            return
        tx = self._clients.get(client_key(response))
        if tx is None:
            return  # a stray (or one whose transaction has ended): nothing to do
        self._drive_client(tx, tx.machine.on_message(response, self._now()))

    # --- running the machines ---------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _room_for_one_more(self) -> bool:
        if len(self._servers) < MAX_TRANSACTIONS:
            return True
        busy = ("proceeding", "trying", "accepted")
        for key, tx in list(self._servers.items()):  # oldest first
            if tx.machine.state not in busy:
                self._end_server(key, tx)
                return True
        return False

    def _drive_server(self, key: ServerKey, tx: _Server, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Send(message=message):
                    self._send(tx.flow, message.encode())
                case Deliver(message=SipRequest(method="ACK")):
                    if tx.acked is not None and not tx.acked.done():
                        tx.acked.set_result(True)
                case Deliver(message=SipRequest() as request):
                    self._deliver(request, tx.flow)
                case Timeout(timer=timer):
                    if tx.acked is not None and not tx.acked.done():
                        tx.acked.set_result(False)
                    log.debug("sip server transaction timed out", extra={"timer": timer})
                case Terminated():
                    self._end_server(key, tx)
                    return
        self._schedule(tx, lambda: self._fire_server(key, tx))

    def _fire_server(self, key: ServerKey, tx: _Server) -> None:
        tx.timer = None
        self._drive_server(key, tx, tx.machine.on_timer(self._now()))

    def _end_server(self, key: ServerKey, tx: _Server) -> None:
        if tx.timer is not None:
            tx.timer.cancel()
            tx.timer = None
        if self._servers.get(key) is tx:
            del self._servers[key]
        request = tx.machine.request
        accepted = (request.call_id, _to_tag(tx))
        if self._accepted.get(accepted) is tx:
            del self._accepted[accepted]
        if tx.acked is not None and not tx.acked.done():
            tx.acked.set_result(False)

    def _drive_client(self, tx: _Client, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Send(message=message):
                    self._send(tx.flow, message.encode())
                case Deliver(message=SipResponse() as response) if response.status < 200:
                    if tx.on_provisional is not None and not tx.final.done():
                        tx.on_provisional(response)
                case Deliver(message=SipResponse() as response):
                    if tx.final.done():
                        self._late_2xx(response)
                    else:
                        tx.final.set_result(response)
                case Timeout(timer=timer):
                    if not tx.final.done():
                        method = tx.machine.request.method
                        tx.final.set_exception(CallError(f"{method} timed out (Timer {timer})"))
                case Terminated():
                    self._end_client(tx)
                    return
        self._schedule(tx, lambda: self._fire_client(tx))

    def _fire_client(self, tx: _Client) -> None:
        tx.timer = None
        self._drive_client(tx, tx.machine.on_timer(self._now()))

    def _end_client(self, tx: _Client) -> None:
        if tx.timer is not None:
            tx.timer.cancel()
            tx.timer = None
        request = tx.machine.request
        key = (request.vias[0].branch or "", request.cseq.method)
        if self._clients.get(key) is tx:
            del self._clients[key]

    def _schedule(self, tx: _Server | _Client, fire: Callable[[], None]) -> None:
        if tx.timer is not None:
            tx.timer.cancel()
            tx.timer = None
        deadline = tx.machine.next_deadline
        if deadline is not None:
            tx.timer = asyncio.get_running_loop().call_at(deadline, fire)

    def _stateless(self, request: SipRequest, flow: Flow, status: int) -> None:
        response = make_response(request, status, headers=(("Retry-After", "5"),))
        self._send(flow, response.encode())


def _to_tag(tx: _Server) -> str:
    response = tx.machine.last_response
    return (response.to.tag or "") if response is not None else ""
