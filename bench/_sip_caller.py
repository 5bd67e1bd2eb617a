"""One caller on a SIP trunk, for ``telephony.py --transport sip``: a UDP user agent that
places a call to ``voxplane serve`` (INVITE, ACK, BYE), streams RTP in real time, and
dates the agent's answers as their packets arrive.

Kept cheap so that one client core can play a hundred callers: one datagram endpoint for
SIP and one for RTP per call, frames μ-law-encoded once for every call, the agent's
packets told apart from its silence by their payload alone. voxplane's SIP parser reads
the responses (``parse_message``, ``parse_sdp``); what goes out is written here by hand,
as a trunk would send it.

While the agent is quiet voxplane's pacer sends silence (a carrier drops a call with no
RTP): an answer is the packets whose payload is not the silent one.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass

from voxplane.errors import ProtocolError
from voxplane.transports.sip.message import SipResponse, parse_message
from voxplane.transports.sip.sdp import parse_sdp

SILENT_PCMU = b"\xff" * 160
"""A 20-ms μ-law frame of digital silence: what voxplane sends while the agent is quiet."""
SETUP_TIMEOUT_S = 10.0
RETRANSMIT_S = 0.5
"""INVITE and BYE are sent again this often until answered (RFC 3261's T1, over UDP)."""
_RTP_HEADER = struct.Struct("!BBHII")


class SipCallFailed(Exception):
    """The call could not be set up or torn down; the message says how."""


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, float], None]) -> None:
        self._on_datagram = on_datagram

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._loop = asyncio.get_running_loop()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._on_datagram(data, self._loop.time())


@dataclass
class Dialog:
    call_id: str
    from_tag: str
    to: str = ""
    """The To header with the agent's tag, from the 200 OK."""
    target: str = ""
    """Where in-dialog requests go: the 200 OK's Contact."""


class SipCaller:
    """One call from a trunk at 127.0.0.1 to ``number`` at voxplane's SIP port."""

    def __init__(
        self, sip_port: int, number: str, on_sent: Callable[[int, float], float] | None = None
    ) -> None:
        """``on_sent(frame, at)`` is told each frame sent (numbered from 1) and returns the
        time :meth:`send` returns."""
        self.server = ("127.0.0.1", sip_port)
        self._on_sent = on_sent
        self.number = number
        self.arrivals: list[float] = []
        """When each packet of agent audio (not silence) arrived, loop time."""
        self.silence = SILENT_PCMU
        self.t0 = 0.0
        self.sent = 0
        self._sip: asyncio.DatagramTransport | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self._sip_port = self._rtp_port = 0
        self._remote_rtp: tuple[str, int] | None = None
        self._responses: asyncio.Queue[SipResponse] = asyncio.Queue()
        self._dialog = Dialog("bench-" + secrets.token_hex(8), secrets.token_hex(4))
        self._ssrc = secrets.randbits(32)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        local = ("127.0.0.1", 0)
        self._sip, _ = await loop.create_datagram_endpoint(
            lambda: _Inbox(self._on_sip), local_addr=local
        )
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Inbox(self._on_rtp), local_addr=local
        )
        self._sip_port = self._sip.get_extra_info("sockname")[1]
        self._rtp_port = self._rtp.get_extra_info("sockname")[1]

    @property
    def rtp_port(self) -> int:
        return self._rtp_port

    def close(self) -> None:
        for transport in (self._sip, self._rtp):
            if transport is not None:
                transport.close()

    # --- signalling -------------------------------------------------------------------

    async def invite(self) -> None:
        """INVITE until a final response; ACK a 200 OK and learn where the RTP goes."""
        dialog = self._dialog
        uri = f"sip:{self.number}@{self.server[0]}:{self.server[1]}"
        offer = self._offer()
        request = self._request("INVITE", uri, f"<{uri}>", 1, offer)
        final = await self._transact(request, "INVITE")
        if final.status != 200:
            raise SipCallFailed(f"INVITE: {final.status} {final.reason}")
        dialog.to = final.headers.get("To") or ""
        contact = final.contact
        dialog.target = contact.uri if contact is not None else uri
        answer = parse_sdp(final.body)
        media = answer.media[0]
        connection = answer.connection_of(media)
        host = connection.address if connection is not None else self.server[0]
        self._remote_rtp = (host, media.port)
        self._ack()

    async def bye(self) -> None:
        dialog = self._dialog
        final = await self._transact(self._request("BYE", dialog.target, dialog.to, 2), "BYE")
        if final.status != 200:
            raise SipCallFailed(f"BYE: {final.status} {final.reason}")

    def _ack(self) -> None:
        dialog = self._dialog
        self._send_sip(self._request("ACK", dialog.target, dialog.to, 1))

    async def _transact(self, request: bytes, method: str) -> SipResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETUP_TIMEOUT_S
        self._send_sip(request)
        resend = loop.time() + RETRANSMIT_S
        provisional = False
        while (left := deadline - loop.time()) > 0:
            wait = left if provisional else min(left, resend - loop.time())
            try:
                response = await asyncio.wait_for(self._responses.get(), max(0.0, wait))
            except TimeoutError:
                if not provisional and loop.time() >= resend:
                    self._send_sip(request)
                    resend = loop.time() + RETRANSMIT_S
                continue
            if response.cseq.method != method:
                continue
            if response.status >= 200:
                return response
            provisional = True
        raise SipCallFailed(f"{method}: no final response in {SETUP_TIMEOUT_S:.0f} s")

    def _on_sip(self, data: bytes, _at: float) -> None:
        try:
            message = parse_message(data)
        except ProtocolError:
            return
        if not isinstance(message, SipResponse):
            return  # the agent's BYE would end the call: this bench's agent never hangs up
        if message.status == 200 and message.cseq.method == "INVITE" and self._dialog.to:
            self._ack()  # a 200 OK sent again: our ACK was lost
            return
        self._responses.put_nowait(message)

    def _request(self, method: str, uri: str, to: str, cseq: int, body: bytes = b"") -> bytes:
        here = f"127.0.0.1:{self._sip_port}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {here};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:+14155550123@{here}>;tag={self._dialog.from_tag}",
            f"To: {to}",
            f"Call-ID: {self._dialog.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:+14155550123@{here}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _offer(self) -> bytes:
        lines = [
            "v=0", f"o=bench {self._ssrc} 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
            "t=0 0", f"m=audio {self._rtp_port} RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20", "a=sendrecv",
        ]  # fmt: skip
        return ("\r\n".join(lines) + "\r\n").encode()

    def _send_sip(self, data: bytes) -> None:
        assert self._sip is not None
        self._sip.sendto(data, self.server)

    # --- media ------------------------------------------------------------------------

    async def send(self, payload: bytes) -> float:
        """Send one 20-ms μ-law frame when its time comes (an absolute schedule from
        :attr:`t0`); returns when it went out."""
        self.sent += 1
        loop = asyncio.get_running_loop()
        due = self.t0 + 0.02 * self.sent
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        assert self._rtp is not None and self._remote_rtp is not None
        header = _RTP_HEADER.pack(
            0x80, 0x80 if self.sent == 1 else 0, self.sent & 0xFFFF,
            (160 * self.sent) & 0xFFFFFFFF, self._ssrc,
        )  # fmt: skip
        self._rtp.sendto(header + payload, self._remote_rtp)
        at = loop.time()
        return at if self._on_sent is None else self._on_sent(self.sent, at)

    def _on_rtp(self, data: bytes, at: float) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0 and data[12:] != SILENT_PCMU:
            self.arrivals.append(at)
