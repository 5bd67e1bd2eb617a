"""A SIP call once answered: its dialog and the :class:`Transport` the runtime runs on.

Call control goes through the endpoint (:class:`Requester`): hanging up sends BYE, a cold
transfer sends REFER and waits for the NOTIFY that reports the outcome (RFC 3515) or, when
the REFER is refused, bridges a second leg (:mod:`.bridge`); keys go out as RFC 4733
events on the RTP session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from voxplane.agents.flow import is_emergency_number
from voxplane.errors import CallError
from voxplane.transports.base import CallEvent, CallInfo, Dtmf, RemoteHangup, Transport
from voxplane.transports.sip.dialog import Dialog, sipfrag_status
from voxplane.transports.sip.media import RtpSession
from voxplane.transports.sip.message import SipResponse
from voxplane.transports.sip.network import Flow

log = logging.getLogger(__name__)

TRANSFER_TIMEOUT_S = 30.0
"""How long the transferee may take to report the transfer's outcome (NOTIFY)."""
_E164 = re.compile(r"^\+?\d{3,15}$")


class Requester(Protocol):
    """What a call needs from the endpoint: sending requests inside its dialog."""

    async def request_in_dialog(
        self,
        call: SipCall,
        method: str,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
    ) -> SipResponse: ...

    def forget(self, call: SipCall) -> None: ...


BridgeTransfer = Callable[["SipCall", str], Awaitable[None]]
"""Places a second leg to the target and bridges it to the call until either hangs up."""


class SipCall(Transport):
    """One established call. Events end after :class:`RemoteHangup` or our own hang-up."""

    def __init__(
        self, requester: Requester, dialog: Dialog, flow: Flow, info: CallInfo, rtp: RtpSession
    ) -> None:
        self.info = info
        self.dialog = dialog
        """The dialog's latest state (sip-proto's frozen value, replaced as it changes)."""
        self.flow = flow
        """Where the dialog's requests and responses go (symmetric, as they came)."""
        self.last_ack: bytes | None = None
        """Our ACK for the 2xx of an outbound call, resent if that 2xx is."""
        self.rtp = rtp
        self.source = rtp.source
        self.sink = rtp.sink
        self._requester = requester
        # A handful of keys and one hang-up at most between reads: small and bounded.
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue(256)
        self.ended = False
        self.sdp_session = (0, 1)
        """Our SDP's o= session id and version (bumped by each re-INVITE answer)."""
        self._transfer: asyncio.Future[int] | None = None
        self.bridge_transfer: BridgeTransfer | None = None
        """How a transfer is done when the REFER is refused: a second leg through the
        call's trunk, bridged to this call (set by the runtime; None: the transfer fails)."""
        rtp.on_media_timeout = self._media_lost

    # --- from the network ------------------------------------------------------------

    def on_dtmf(self, key: Dtmf) -> None:
        log.info("sip dtmf", extra={"duration_ms": key.duration_ms})  # never the key: PII
        if not self.ended and not self._events.full():
            self._events.put_nowait(key)

    def on_remote_hangup(self, reason: str = "caller_hangup") -> None:
        if self.ended:
            return
        self.ended = True
        self._events.put_nowait(RemoteHangup(reason))
        self._events.put_nowait(None)
        self.rtp.end_audio()

    def _media_lost(self) -> None:
        """No RTP for a minute: the caller is gone without a BYE. The call ends; our BYE
        follows when the runtime closes the transport."""
        if self.ended:
            return
        log.warning("sip call has no media; ending it")
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait(RemoteHangup("media_timeout"))
        self.rtp.end_audio()

    def on_notify(self, body: bytes) -> None:
        """A NOTIFY of our REFER: the transfer's progress as a ``message/sipfrag``."""
        status = sipfrag_status(body)
        pending = self._transfer is not None and not self._transfer.done()
        if status is not None and status >= 200 and pending:
            assert self._transfer is not None
            self._transfer.set_result(status)

    # --- Transport -------------------------------------------------------------------

    async def events(self) -> AsyncIterator[CallEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def hang_up(self) -> None:
        if self.ended:
            return
        self._end()
        with contextlib.suppress(CallError):
            await self._requester.request_in_dialog(self, "BYE")

    async def transfer(self, target: str) -> None:
        """Cold transfer. REFER the caller's side to ``target`` and leave with BYE once its
        NOTIFY reports success; when the REFER is refused (or never answered) and a
        :attr:`bridge_transfer` is set, the transfer is done through voxplane: a second
        leg bridged to this one, returning when the bridged call ends. Raises
        :class:`CallError` for an emergency target (nothing is sent), or when the transfer
        fails."""
        if self.ended:
            raise CallError("the call has ended")
        if is_emergency_number(target):  # checked where the transfer is executed
            raise CallError("a call is never transferred to an emergency number")
        refer_to = self._refer_target(target)
        loop = asyncio.get_running_loop()
        self._transfer = loop.create_future()
        headers = (("Refer-To", f"<{refer_to}>"), ("Referred-By", self.dialog.local_uri))
        try:
            response = await self._requester.request_in_dialog(self, "REFER", headers)
            status, reason = response.status, response.reason
        except CallError:
            status, reason = 408, "no response"
        if status >= 300:
            if self.bridge_transfer is None:
                raise CallError(f"transfer refused: {status} {reason}")
            log.info("sip REFER refused; bridging a second leg", extra={"sip_status": status})
            await self.bridge_transfer(self, target)
            return
        try:
            async with asyncio.timeout(TRANSFER_TIMEOUT_S):
                outcome = await self._transfer
        except TimeoutError as error:
            raise CallError("the transfer's outcome never came") from error
        if outcome >= 300:
            raise CallError(f"transfer failed: {outcome}")
        await self.hang_up()

    def _refer_target(self, target: str) -> str:
        if target.startswith(("sip:", "sips:")):
            return target
        if not _E164.match(target):
            raise CallError("transfer target must be E.164 or a SIP URI")
        host = self.dialog.remote_target.split("@")[-1].split(";")[0].split(">")[0]
        return f"sip:{target}@{host}"

    async def send_dtmf(self, keys: str) -> None:
        await self.rtp.send_dtmf(keys)

    async def aclose(self) -> None:
        if not self.ended:
            await self.hang_up()
        self._end()
        await self.rtp.aclose()
        self._requester.forget(self)

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            with contextlib.suppress(asyncio.QueueFull):
                self._events.put_nowait(None)
