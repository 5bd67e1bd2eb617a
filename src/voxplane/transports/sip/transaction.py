"""SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state) as pure state machines.

Each transaction is fed ``on_message(msg, now)`` / ``on_timer(now)`` (and, for server
transactions, ``respond(response, now)``) and returns a list of actions for the caller to
carry out: :class:`Send` these bytes to the peer, :class:`Deliver` this message to the
transaction user, :class:`Timeout`, :class:`Terminated`. ``next_deadline`` says when to call
``on_timer`` next (None: no timer running). Times are seconds on the caller's monotonic clock.

On a reliable transport (TCP/TLS) requests and non-2xx responses are not retransmitted and
the wait timers D, I, J, K are zero (§17). A 2xx to an INVITE is retransmitted on every
transport until the ACK arrives (§13.3.1.4): T1, 2·T1 … capped at T2, for 64·T1; then a
``Timeout("no ACK")`` tells the UAS to send BYE.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from voxplane.transports.sip.headers import CSeq
from voxplane.transports.sip.message import (
    Headers,
    SipMessage,
    SipRequest,
    SipResponse,
    make_response,
)

BRANCH_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class Timers:
    """RFC 3261 §17.1.1.1 timer values in seconds (T1 RTT estimate, T2 cap, T4 lifetime)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


@dataclass(frozen=True, slots=True)
class Send:
    """Send this message to the transaction's peer."""

    message: SipMessage


@dataclass(frozen=True, slots=True)
class Deliver:
    """Pass this message up to the transaction user."""

    message: SipMessage


@dataclass(frozen=True, slots=True)
class Timeout:
    """The transaction gave up (``timer`` names why: "B", "F", "H", "no ACK")."""

    timer: str


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction is over; forget it."""


Action = Send | Deliver | Timeout | Terminated


def new_branch() -> str:
    """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
    return BRANCH_COOKIE + secrets.token_hex(8)


def server_key(request: SipRequest) -> tuple[str, str, str]:
    """The server transaction a request belongs to (§17.2.3): branch, sent-by, method.

    ACK maps to its INVITE's transaction. (Pre-RFC 3261 peers without the magic cookie are
    matched by branch too; voxplane does not support RFC 2543 matching.)
    """
    via = request.vias[0]
    method = "INVITE" if request.method == "ACK" else request.method
    return (via.branch or "", f"{via.host}:{via.port or ''}", method)


def cancelled_key(cancel: SipRequest) -> tuple[str, str, str]:
    """The INVITE server transaction a CANCEL targets (same branch and sent-by, §9.2)."""
    branch, sent_by, _ = server_key(cancel)
    return (branch, sent_by, "INVITE")


def client_key(response: SipResponse) -> tuple[str, str]:
    """The client transaction a response belongs to (§17.1.3): top branch, CSeq method."""
    return (response.vias[0].branch or "", response.cseq.method)


def make_ack(invite: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK for a non-2xx final response (§17.1.1.3): same branch, the response's To."""
    headers = [("Via", invite.headers.get_all("Via")[0])]
    headers += [("Route", r) for r in invite.headers.get_all("Route")]
    headers += [
        ("Max-Forwards", "70"),
        ("From", invite.headers.get("From") or ""),
        ("To", response.headers.get("To") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", str(CSeq(invite.cseq.seq, "ACK"))),
    ]
    return SipRequest("ACK", invite.uri, Headers(tuple(headers)))


def make_cancel(invite: SipRequest) -> SipRequest:
    """The CANCEL for a pending INVITE (§9.1): same top Via branch, URI, tags, CSeq number."""
    headers = [("Via", invite.headers.get_all("Via")[0])]
    headers += [("Route", r) for r in invite.headers.get_all("Route")]
    headers += [
        ("Max-Forwards", "70"),
        ("From", invite.headers.get("From") or ""),
        ("To", invite.headers.get("To") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", str(CSeq(invite.cseq.seq, "CANCEL"))),
    ]
    return SipRequest("CANCEL", invite.uri, Headers(tuple(headers)))


class _Transaction:
    """Timer bookkeeping shared by the four machines: named deadlines, fired in order."""

    def __init__(self, reliable: bool, timers: Timers) -> None:
        self.reliable = reliable
        self.timers = timers
        self.state = ""
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must next be called; None when no timer runs."""
        return min(self._deadlines.values(), default=None)

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def on_timer(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``."""
        actions: list[Action] = []
        while self._deadlines:
            name, when = min(self._deadlines.items(), key=lambda item: item[1])
            if when > now:
                break
            del self._deadlines[name]
            actions += self._fire(name, now)
        return actions

    def _start(self, name: str, now: float, after: float) -> None:
        self._deadlines[name] = now + after
        self._intervals[name] = after

    def _retransmit(self, name: str, now: float, cap: float) -> None:
        """Restart a retransmission timer at twice its interval, at most ``cap``."""
        self._start(name, now, min(self._intervals[name] * 2, cap))

    def _wait(self, name: str, now: float, after: float) -> list[Action]:
        """Enter a wait (timers D, I, J, K): zero on reliable transports ends at once."""
        if self.reliable or after <= 0:
            return self._terminate()
        self._start(name, now, after)
        return []

    def _terminate(self) -> list[Action]:
        self.state = "terminated"
        self._deadlines.clear()
        return [Terminated()]

    def _fire(self, name: str, now: float) -> list[Action]:
        raise NotImplementedError


class InviteServerTransaction(_Transaction):
    """§17.2.1 (+ RFC 6026): proceeding → completed → confirmed, or accepted after a 2xx."""

    def __init__(
        self, request: SipRequest, *, reliable: bool = False, timers: Timers | None = None
    ) -> None:
        super().__init__(reliable, timers or Timers())
        self.request = request
        self.state = "proceeding"
        self.last_response: SipResponse | None = None

    def start(self, now: float) -> list[Action]:
        """100 Trying at once (we may take longer than 200 ms), and the INVITE for the TU."""
        self.last_response = make_response(self.request, 100)
        return [Send(self.last_response), Deliver(self.request)]

    def respond(self, response: SipResponse, now: float) -> list[Action]:
        """Send the TU's response: 1xx stays proceeding, 2xx → accepted, others → completed."""
        if self.state != "proceeding":
            return []
        self.last_response = response
        t = self.timers
        if 200 <= response.status < 300:
            self.state = "accepted"
            self._start("2xx", now, t.t1)
            self._start("L", now, 64 * t.t1)
        elif response.status >= 300:
            self.state = "completed"
            if not self.reliable:
                self._start("G", now, t.t1)
            self._start("H", now, 64 * t.t1)
        return [Send(response)]

    def acknowledged_by(self, ack: SipRequest) -> bool:
        """True when ``ack`` acknowledges this INVITE's 2xx.

        The ACK for a 2xx is its own transaction with a new branch (§17.1.1.3), so
        :func:`server_key` does not find it: look the INVITE up through the dialog and check
        with this before passing the ACK to :meth:`on_message`.
        """
        return (
            ack.method == "ACK"
            and ack.call_id == self.request.call_id
            and ack.cseq.seq == self.request.cseq.seq
            and ack.from_.tag == self.request.from_.tag
        )

    def on_message(self, message: SipMessage, now: float) -> list[Action]:
        """A retransmitted INVITE or the ACK."""
        if not isinstance(message, SipRequest):
            return []
        if message.method == "INVITE":
            # proceeding/completed: repeat the last response; accepted: the 2xx timer does
            # (RFC 6026 §7.1 absorbs the retransmission)
            repeat = self.state in ("proceeding", "completed")
            return [Send(self.last_response)] if repeat and self.last_response else []
        if message.method == "ACK" and self.state == "completed":
            self.state = "confirmed"
            self._deadlines.clear()
            return self._wait("I", now, self.timers.t4)
        if message.method == "ACK" and self.state == "accepted":
            return [Deliver(message), *self._terminate()]
        return []

    def _fire(self, name: str, now: float) -> list[Action]:
        retransmits_in = {"G": "completed", "2xx": "accepted"}
        match name:
            case "G" | "2xx" if self.state == retransmits_in[name] and self.last_response:
                self._retransmit(name, now, self.timers.t2)
                return [Send(self.last_response)]
            case "H" | "L":
                return [Timeout("H" if name == "H" else "no ACK"), *self._terminate()]
            case "I":
                return self._terminate()
        return []


class NonInviteServerTransaction(_Transaction):
    """§17.2.2: trying → proceeding → completed (Timer J) → terminated."""

    def __init__(
        self, request: SipRequest, *, reliable: bool = False, timers: Timers | None = None
    ) -> None:
        super().__init__(reliable, timers or Timers())
        self.request = request
        self.state = "trying"
        self.last_response: SipResponse | None = None

    def start(self, now: float) -> list[Action]:
        """The request for the TU."""
        return [Deliver(self.request)]

    def respond(self, response: SipResponse, now: float) -> list[Action]:
        """Send the TU's response; a final one completes the transaction."""
        if self.state not in ("trying", "proceeding"):
            return []
        self.last_response = response
        if response.status < 200:
            self.state = "proceeding"
            return [Send(response)]
        self.state = "completed"
        return [Send(response), *self._wait("J", now, 64 * self.timers.t1)]

    def on_message(self, message: SipMessage, now: float) -> list[Action]:
        """A retransmitted request gets the last response again (none while trying)."""
        repeat = self.state in ("proceeding", "completed") and self.last_response is not None
        if isinstance(message, SipRequest) and repeat and self.last_response is not None:
            return [Send(self.last_response)]
        return []

    def _fire(self, name: str, now: float) -> list[Action]:
        return self._terminate() if name == "J" else []


class InviteClientTransaction(_Transaction):
    """§17.1.1 (+ RFC 6026): calling → proceeding → accepted | completed → terminated."""

    def __init__(
        self, request: SipRequest, *, reliable: bool = False, timers: Timers | None = None
    ) -> None:
        super().__init__(reliable, timers or Timers())
        self.request = request
        self.state = "calling"
        self._ack: SipRequest | None = None

    def start(self, now: float) -> list[Action]:
        """Send the INVITE; Timer A retransmits it (unreliable), Timer B gives up."""
        if not self.reliable:
            self._start("A", now, self.timers.t1)
        self._start("B", now, 64 * self.timers.t1)
        return [Send(self.request)]

    def on_message(self, message: SipMessage, now: float) -> list[Action]:
        """A response from the server."""
        if not isinstance(message, SipResponse) or self.state == "terminated":
            return []
        pending = self.state in ("calling", "proceeding")
        if message.status < 200:
            if not pending:
                return []
            self.state = "proceeding"
            self._deadlines.clear()  # the far end is alive: no more A, and no B (§17.1.1.2)
            return [Deliver(message)]
        if message.status < 300:
            if pending:
                self.state = "accepted"
                self._deadlines.clear()
                self._start("M", now, 64 * self.timers.t1)
            # every 2xx goes up, retransmissions too: the TU ACKs each (§13.2.2.4)
            return [Deliver(message)] if self.state == "accepted" else []
        if pending:
            self.state = "completed"
            self._deadlines.clear()
            self._ack = make_ack(self.request, message)
            return [Send(self._ack), Deliver(message), *self._wait("D", now, 32.0)]
        return [Send(self._ack)] if self.state == "completed" and self._ack else []

    def _fire(self, name: str, now: float) -> list[Action]:
        if name == "A" and self.state == "calling":
            self._retransmit("A", now, float("inf"))
            return [Send(self.request)]
        if name == "B" and self.state in ("calling", "proceeding"):
            return [Timeout("B"), *self._terminate()]
        if name in ("D", "M"):
            return self._terminate()
        return []


class NonInviteClientTransaction(_Transaction):
    """§17.1.2: trying → proceeding → completed (Timer K) → terminated."""

    def __init__(
        self, request: SipRequest, *, reliable: bool = False, timers: Timers | None = None
    ) -> None:
        super().__init__(reliable, timers or Timers())
        self.request = request
        self.state = "trying"

    def start(self, now: float) -> list[Action]:
        """Send the request; Timer E retransmits it (unreliable), Timer F gives up."""
        if not self.reliable:
            self._start("E", now, self.timers.t1)
        self._start("F", now, 64 * self.timers.t1)
        return [Send(self.request)]

    def on_message(self, message: SipMessage, now: float) -> list[Action]:
        """A response from the server."""
        if not isinstance(message, SipResponse) or self.state not in ("trying", "proceeding"):
            return []
        if message.status < 200:
            self.state = "proceeding"
            return [Deliver(message)]
        self.state = "completed"
        self._deadlines.clear()
        return [Deliver(message), *self._wait("K", now, self.timers.t4)]

    def _fire(self, name: str, now: float) -> list[Action]:
        if name == "E" and self.state in ("trying", "proceeding"):
            cap = self.timers.t2
            if self.state == "proceeding":
                self._start("E", now, cap)
            else:
                self._retransmit("E", now, cap)
            return [Send(self.request)]
        if name == "F" and self.state in ("trying", "proceeding"):
            return [Timeout("F"), *self._terminate()]
        if name == "K":
            return self._terminate()
        return []
