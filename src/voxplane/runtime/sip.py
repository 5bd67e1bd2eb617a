"""SIP calls into the call runtime: the policy between the SIP endpoint and the platform.

For each new INVITE, in this order (each step answers the caller before anything is held):

1. the dialled number must exist (404) and a SIP trunk of the number's tenant must allow
   the source address (403);
2. when that trunk has inbound credentials, the INVITE must carry valid digest credentials
   (401 with a challenge; 403 for a wrong password);
3. the runtime admits the call (404 no agent, 486 the tenant's call slots busy, 403 monthly
   minutes used up, 503 draining) — then 180, 200 with the SDP answer, ACK;
4. the runtime runs the agent on the call until either side hangs up and records it.

An agent's cold transfer is a REFER; when the caller's side refuses it, the call's trunk
places a second leg that voxplane bridges (:meth:`SipCalls._bridger`). Outbound calls are
dialled through the API's trunk; one that never connects is recorded with the reason
(:func:`unanswered`). Trunks with a registrar are kept registered (:func:`keep_registered`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from voxplane.errors import (
    CallError,
    ConfigError,
    ControlError,
    InvalidError,
    LimitError,
    NotFoundError,
    ProtocolError,
    UnavailableError,
)
from voxplane.pipeline.records import EndReason
from voxplane.runtime.calls import Admission, CallRefused, CallRuntime
from voxplane.services.outbound import OutboundCallService, OutboundDial, OutboundDialer
from voxplane.services.trunks import InboundTrunk, OutboundTrunk, SipTrunkService
from voxplane.settings import Settings
from voxplane.transports.base import CallInfo
from voxplane.transports.sip.bridge import bridge
from voxplane.transports.sip.call import BridgeTransfer, SipCall
from voxplane.transports.sip.digest import DigestVerifier
from voxplane.transports.sip.endpoint import SipConfig, SipEndpoint
from voxplane.transports.sip.inbound import InboundCall
from voxplane.transports.sip.media import RtpPortPool
from voxplane.transports.sip.outbound import CallFailed, DialTarget, place_call
from voxplane.transports.sip.registrations import Registrations, RegistrationTarget

log = logging.getLogger(__name__)

REGISTRATION_SYNC_S = 30.0
"""How often the trunks that register are read again (changes made through another
process's API reach this one within this period)."""


def dialled_number(user: str | None) -> str:
    """A Request-URI user part as E.164: carriers often leave out the ``+``."""
    if user is None:
        return ""
    return f"+{user}" if user.isdigit() else user


class SipCalls(OutboundDialer):
    """Answers inbound SIP calls with the agents their numbers route to, and places the
    outbound calls the API asks for."""

    def __init__(self, runtime: CallRuntime, trunks: SipTrunkService, realm: str) -> None:
        self.runtime = runtime
        self.trunks = trunks
        self.verifier = DigestVerifier(realm, secrets.token_bytes(32))
        self.endpoint: SipEndpoint | None = None

    async def dial(self, request: OutboundDial) -> str:
        """Admit the call, then dial it in the background (owned by the endpoint)."""
        assert self.endpoint is not None
        call_id = f"{secrets.token_hex(16)}@voxplane"  # nothing of our hosts in the Call-ID
        info = CallInfo(call_id, "sip", "outbound", request.route.number, request.to_number)
        try:
            admission = await self.runtime.admit(info, route=request.route)
        except CallRefused as refused:
            raise _as_control_error(refused) from refused
        self.endpoint.spawn(self._place(admission, request))
        return admission.call_id

    async def _place(self, admission: Admission, request: OutboundDial) -> None:
        assert self.endpoint is not None
        trunk = request.trunk
        # an outbound call through the API always names the tenant's own calling number
        assert request.route.number is not None
        target = _dial_target(trunk, request.to_number, request.route.number)
        try:
            call = await place_call(self.endpoint, target, admission.info.call_id)
        except (CallError, ProtocolError, OSError) as error:
            status = error.status if isinstance(error, CallFailed) else None
            log.info("outbound call not answered", extra={"sip_status": status})
            await self.runtime.abandon(admission, unanswered(status))
            return

        async def same_trunk() -> OutboundTrunk:
            return trunk

        call.bridge_transfer = self._bridger(same_trunk, request.route.number)
        await self.runtime.run(admission, call)

    def _bridger(
        self, trunk: Callable[[], Awaitable[OutboundTrunk]], from_number: str
    ) -> BridgeTransfer:
        """A call's transfer through voxplane: a second leg to the target through the
        call's trunk (calling from the tenant's number), bridged until either side ends."""

        async def bridge_transfer(call: SipCall, target: str) -> None:
            assert self.endpoint is not None
            if not target.startswith("+") or not target[1:].isdigit():
                raise CallError("only an E.164 number can be dialled through the trunk")
            try:
                through = await trunk()
            except ControlError as error:
                raise CallError(f"the transfer cannot be placed: {error}") from error
            dial = _dial_target(through, target, from_number)
            call_id = f"{secrets.token_hex(16)}@voxplane"  # nothing of the first leg
            try:
                leg = await place_call(self.endpoint, dial, call_id)
            except (ProtocolError, OSError) as error:
                raise CallError(f"the transfer's second leg failed: {error}") from error
            await bridge(call, leg)

        return bridge_transfer

    async def on_invite(self, inbound: InboundCall) -> None:
        """The endpoint's handler for a new INVITE (see the module docstring)."""
        dialled = dialled_number(inbound.info.to_number)
        trunk = await self._screened(inbound, dialled)
        if trunk is None:
            return
        try:
            admission = await self.runtime.admit(replace(inbound.info, to_number=dialled))
        except CallRefused as refused:
            inbound.reject(refused.sip_status, refused.sip_phrase, _retry_after(refused))
            return
        inbound.ring()
        try:
            call = await inbound.answer()
        except (CallError, OSError) as error:
            log.info("sip call not answered", extra={"error": str(error)})
            inbound.reject(503)
            await self.runtime.abandon(admission)
            return

        async def its_trunk() -> OutboundTrunk:
            assert trunk is not None
            return await self.trunks.outbound(trunk.tenant_id, trunk.trunk_id)

        call.bridge_transfer = self._bridger(its_trunk, dialled)
        await self.runtime.run(admission, call)

    async def _screened(self, inbound: InboundCall, dialled: str) -> InboundTrunk | None:
        """The trunk that lets the call through (number, source and credentials);
        None when the INVITE has been answered (503, 404, 403 or a 401 challenge)."""
        if self.runtime.draining:
            inbound.reject(503)  # shutting down: before any lookup
            return None
        try:
            trunk = await self.trunks.match_inbound(dialled, inbound.source)
        except NotFoundError:
            inbound.reject(404)
            return None
        except ControlError:
            inbound.reject(503)
            return None
        if trunk is None:
            log.info("sip source not allowed", extra={"source": inbound.source})
            inbound.reject(403, "Source Not Allowed")
            return None
        if trunk.requires_auth and not self._authenticated(inbound, trunk):
            return None
        return trunk

    def _authenticated(self, inbound: InboundCall, trunk: InboundTrunk) -> bool:
        """True when the INVITE's digest credentials are the trunk's; else answered."""
        assert trunk.username is not None and trunk.password is not None
        now = time.time()
        credentials = inbound.credentials()
        if credentials is None:
            inbound.challenge(self.verifier.challenge(now))
            return False
        verdict = "invalid"
        if credentials.username == trunk.username:
            verdict = self.verifier.verify(
                credentials, password=trunk.password, method="INVITE", now=now
            )
        if verdict == "stale":
            inbound.challenge(self.verifier.challenge(now, stale=True))
            return False
        if verdict != "ok":
            log.info("sip digest refused", extra={"trunk_id": trunk.trunk_id})
            inbound.reject(403, "Bad Credentials")
            return False
        return True


def _dial_target(trunk: OutboundTrunk, to_number: str, from_number: str) -> DialTarget:
    return DialTarget(
        address=trunk.address,
        to_number=to_number,
        from_number=from_number,
        transport="TCP" if trunk.transport == "tcp" else "UDP",
        username=trunk.username,
        password=trunk.password,
    )


def unanswered(status: int | None) -> EndReason:
    """The end reason of an outbound call whose INVITE got ``status`` (None: it never got
    a final response we could use, or could not be sent)."""
    match status:
        case 486 | 600:
            return "busy"
        case 603:
            return "declined"
        case 408 | 480 | 487:
            return "no_answer"
        case _:
            return "failed"


def _as_control_error(refused: CallRefused) -> ControlError:
    match refused.reason:
        case "busy":
            return LimitError(str(refused), retry_after_s=5.0, kind="concurrent_calls")
        case "quota":
            return LimitError(str(refused), retry_after_s=3600.0, kind="call_minutes")
        case "unknown_number":
            return InvalidError(str(refused), field="to")
        case _:
            return UnavailableError(str(refused), retry_after_s=refused.retry_after_s)


def _retry_after(refused: CallRefused) -> tuple[tuple[str, str], ...]:
    """``Retry-After`` (RFC 3261 §20.33) on a refusal the caller may retry soon."""
    if refused.retry_after_s is None:
        return ()
    return (("Retry-After", str(max(1, round(refused.retry_after_s)))),)


def sip_config(settings: Settings) -> SipConfig:
    """The endpoint's configuration from the settings (TLS when a certificate is set)."""
    tls = None
    if settings.sip_tls_cert is not None and settings.sip_tls_key is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.sip_tls_cert, settings.sip_tls_key)
    return SipConfig(
        host=settings.sip_host or settings.host,
        port=settings.sip_port,
        public_address=settings.sip_public_address,
        tls=tls,
        tls_port=settings.sip_tls_port,
        ring_timeout_s=settings.sip_ring_timeout_s,
    )


@asynccontextmanager
async def open_sip(
    settings: Settings,
    runtime: CallRuntime,
    trunks: SipTrunkService,
    outbound: OutboundCallService,
) -> AsyncIterator[SipEndpoint | None]:
    """The SIP endpoint answering with ``runtime`` and dialling for ``outbound``, listening
    until the block exits; None when ``sip_port`` is 0."""
    if settings.sip_port == 0:
        yield None
        return
    calls = SipCalls(runtime, trunks, realm="voxplane")
    endpoint = SipEndpoint(
        sip_config(settings), RtpPortPool(*settings.rtp_port_range), calls.on_invite
    )
    calls.endpoint = endpoint
    try:
        await endpoint.start()
    except OSError as error:
        await endpoint.aclose()
        where = f"{endpoint.config.host}:{settings.sip_port}"
        raise ConfigError(
            f"cannot listen for SIP on {where} ({error}); choose another "
            "--sip-port, or 0 to turn SIP off"
        ) from error
    outbound.dialer = calls
    changed = asyncio.Event()
    trunks.on_change = changed.set
    endpoint.spawn(keep_registered(trunks, endpoint.registrations, changed))
    try:
        yield endpoint
    finally:
        outbound.dialer = None
        trunks.on_change = None
        await endpoint.aclose()


async def keep_registered(
    trunks: SipTrunkService, registrations: Registrations, changed: asyncio.Event
) -> None:
    """Keep ``registrations`` matching the trunks that register: read at start, after
    every trunk change in this process, and every :data:`REGISTRATION_SYNC_S`."""
    while True:
        changed.clear()
        try:
            wanted = await trunks.registrations()
        except ControlError as error:  # the store is down: keep what runs
            log.warning("sip registrations not read", extra={"error": str(error)})
        else:
            registrations.sync([_registration_of(trunk) for trunk in wanted])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REGISTRATION_SYNC_S):
                await changed.wait()


def _registration_of(trunk: OutboundTrunk) -> RegistrationTarget:
    assert trunk.registrar is not None and trunk.username is not None
    assert trunk.password is not None
    return RegistrationTarget(
        key=trunk.trunk_id,
        registrar=trunk.registrar,
        username=trunk.username,
        password=trunk.password,
        transport="TCP" if trunk.transport == "tcp" else "UDP",
    )
