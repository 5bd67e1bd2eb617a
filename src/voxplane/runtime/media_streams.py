"""Twilio Media Streams into the call runtime: the voice webhook and the stream websocket.

::

    Twilio ──POST /v1/twilio/voice (signed form)──► route To, check X-Twilio-Signature
                                                    against the tenant's "twilio" credentials,
                                                    runtime.admit ──► <Reject> / 503 if refused
           ◄── <Connect action=…/ended><Stream url="wss://…/v1/twilio/stream">
                   <Parameter name="token" value="single-use, 30 s"/>
    Twilio ══ WS /v1/twilio/stream ══► connected, start (token, CallSid) ──► runtime.run
           ◄── media / mark / clear          until stop, hang-up or transfer
    Twilio ──POST /v1/twilio/voice/ended───► <Dial> the transfer target, or <Hangup/>

The websocket refuses (closes with 1008 and a reason) a start without a valid token,
media before start, malformed JSON, unknown events and oversized messages. The routes live
here, mounted by ``cli/serve.py``, so the control-plane API never imports the media path.

Tokens and admitted calls live in this process: the webhook and the websocket of a call
must reach the same worker (one ``voxplane serve``, or sticky routing by CallSid).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response, WebSocket
from starlette.websockets import WebSocketDisconnect

from voxplane.agents.flow import is_emergency_number
from voxplane.runtime.calls import Admission, CallRefused, CallRuntime
from voxplane.services.credentials import CredentialService
from voxplane.services.numbers import PhoneNumberService
from voxplane.transports.base import CallInfo, TransportKind
from voxplane.transports.twilio import signature, twiml
from voxplane.transports.twilio.protocol import (
    MAX_MESSAGE_CHARS,
    Connected,
    Dialect,
    ProtocolError,
    Start,
)
from voxplane.transports.twilio.stream import CLOSE_POLICY, MediaStreamTransport
from voxplane.transports.twilio.twilio import TwilioDialect

log = logging.getLogger(__name__)

TOKEN_TTL_S = 30.0
"""How long Twilio has to open the stream after the webhook answered."""
MAX_WAITING = 1000
"""Admitted calls waiting for their stream; more is a flood, refused with 503."""
START_TIMEOUT_S = 10.0
"""A websocket that has not sent its start message by then is closed."""
CLOSE_TIMEOUT_S = 2.0
"""How long closing a stream may wait for a peer that does not read."""
TRANSFERS_KEPT = 1000
XML = "application/xml"


class StreamTokens:
    """Single-use, short-lived tokens, each holding the call its webhook admitted.

    A token unused after ``ttl_s`` frees its call's slot (the caller hung up while
    ringing, or the stream never came)."""

    def __init__(
        self, runtime: CallRuntime, ttl_s: float = TOKEN_TTL_S, limit: int = MAX_WAITING
    ) -> None:
        self._runtime = runtime
        self._ttl_s = ttl_s
        self._limit = limit
        self._waiting: OrderedDict[str, tuple[Admission, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    async def issue(self, admission: Admission) -> str:
        await self.sweep()
        if len(self._waiting) >= self._limit:
            await self._runtime.abandon(admission)
            raise CallRefused("unavailable", "too many calls are waiting for their stream")
        token = secrets.token_urlsafe(24)
        self._waiting[token] = (admission, asyncio.get_running_loop().time() + self._ttl_s)
        return token

    async def redeem(self, token: str, call_id: str | None) -> Admission | None:
        """The admitted call ``token`` stands for, once; None when unknown, expired, used,
        or issued for another call (that call is then freed: its token leaked). A
        ``call_id`` of None skips that last check (a carrier whose stream names the call
        differently from its webhook)."""
        await self.sweep()
        entry = self._waiting.pop(token, None)
        if entry is None:
            return None
        admission = entry[0]
        if call_id is not None and admission.info.call_id != call_id:
            await self._runtime.abandon(admission)
            return None
        return admission

    async def sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        while self._waiting:
            token, (admission, expires) = next(iter(self._waiting.items()))
            if expires > now:
                return
            del self._waiting[token]
            await self._runtime.abandon(admission)

    async def aclose(self) -> None:
        while self._waiting:
            _, (admission, _) = self._waiting.popitem()
            await self._runtime.abandon(admission)


@dataclass(frozen=True, slots=True)
class TwilioRoutes:
    """What the Twilio endpoints need; :meth:`router` builds them."""

    runtime: CallRuntime
    tokens: StreamTokens
    numbers: PhoneNumberService
    credentials: CredentialService
    public_url: str
    """Where Twilio reaches this server (``VOXPLANE_PUBLIC_URL``), no trailing slash."""
    silence_timeout_s: float
    """A stream silent this long is a dead line (``VOXPLANE_STREAM_SILENCE_TIMEOUT_S``)."""

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/v1/twilio", tags=["telephony"])
        transfers = Transfers()

        @router.post("/voice", summary="Twilio voice webhook: answer with a media stream")
        async def voice(request: Request) -> Response:
            verified = await self._verified_form(request)
            if isinstance(verified, Response):
                return verified
            info = call_info(verified[0], "twilio")
            try:
                admission = await self.runtime.admit(info)
                token = await self.tokens.issue(admission)
            except CallRefused as refused:
                return refusal(refused)
            document = twiml.connect_stream(
                websocket_url(self.public_url) + "/v1/twilio/stream",
                {"token": token},
                action=self.public_url + "/v1/twilio/voice/ended",
            )
            return Response(document, media_type=XML)

        @router.post("/voice/ended", summary="Twilio: the media stream ended")
        async def ended(request: Request) -> Response:
            return transfers.next_step(await self._verified_form(request))

        @router.websocket("/stream")
        async def stream(websocket: WebSocket) -> None:
            transfers.note(
                await serve_stream(
                    websocket,
                    TwilioDialect(),
                    self.runtime,
                    self.tokens,
                    silence_timeout_s=self.silence_timeout_s,
                )
            )

        return router

    async def _verified_form(self, request: Request) -> tuple[dict[str, str], str] | Response:
        """The webhook's form and the tenant owning the number, when Twilio signed it with
        that tenant's auth token; else the response refusing it."""
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return Response("expected a form", status_code=415)
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        form = dict(pairs)
        info = call_info(form, "twilio")
        dialled = info.to_number if info.direction == "inbound" else info.from_number
        if not info.call_id or not dialled:
            return Response("CallSid, To and From are required", status_code=400)
        route = await self.numbers.route(dialled)
        if route is None:
            return Response(twiml.reject(), media_type=XML)
        auth_tokens = await self.credentials.reveal_provider(route.tenant_id, "twilio")
        url = self.public_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        given = request.headers.get("x-twilio-signature", "")
        if not auth_tokens or not signature.is_valid(given, auth_tokens, url, pairs):
            log.warning("twilio webhook: bad signature", extra={"tenant_id": route.tenant_id})
            return Response("invalid X-Twilio-Signature", status_code=403)
        return form, route.tenant_id


class Transfers:
    """Where media-stream calls the agent transferred go, kept from the end of the stream
    until the carrier asks what to do next: (tenant, call id) → target, at most
    :data:`TRANSFERS_KEPT` (the oldest dropped). Only the tenant whose call it was (the one
    that signed the carrier's request) collects a target, and only once."""

    def __init__(self) -> None:
        self._targets: OrderedDict[tuple[str, str], str] = OrderedDict()

    def note(self, served: tuple[MediaStreamTransport, str] | None) -> None:
        """Keeps the target of a stream :func:`serve_stream` ran, if it was transferred."""
        if served is None:
            return
        transport, tenant_id = served
        if transport.transferred_to is None:
            return
        self._targets[tenant_id, transport.info.call_id] = transport.transferred_to
        while len(self._targets) > TRANSFERS_KEPT:
            self._targets.popitem(last=False)

    def next_step(self, verified: tuple[dict[str, str], str] | Response) -> Response:
        """The carrier's next verb once the stream ended, for its request ``verified`` as
        the router's signature check left it (the form and the tenant that signed it, or
        the refusal to send back): ``<Dial>`` the target the agent transferred that call
        to (never an emergency number, checked again here), else ``<Hangup/>``."""
        if isinstance(verified, Response):
            return verified
        form, tenant_id = verified
        target = self._targets.pop((tenant_id, form.get("CallSid", "")), None)
        if target is None or is_emergency_number(target):
            return Response(twiml.hang_up(), media_type=XML)
        return Response(twiml.dial(target), media_type=XML)


async def serve_stream(
    websocket: WebSocket,
    dialect: Dialect,
    runtime: CallRuntime,
    tokens: StreamTokens,
    *,
    silence_timeout_s: float,
    url_token: str | None = None,
) -> tuple[MediaStreamTransport, str] | None:
    """Run a media stream's call; returns its transport and tenant once it is over. The
    stream token comes from the start message's parameters, or from the stream URL
    (``url_token``, for a carrier that does not pass parameters); a URL token is not
    bound to the call id (the carrier names the call its own way in the stream). A
    stream silent for ``silence_timeout_s``, or not reading, ends its call
    (:meth:`MediaStreamTransport.watch`)."""
    await websocket.accept()
    socket = StarletteSocket(websocket)
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            start = await _wait_for_start(socket, dialect)
    except TimeoutError:
        await socket.close(CLOSE_POLICY, "no start message")
        return None
    except ProtocolError as error:
        await socket.close(CLOSE_POLICY, error.reason)
        return None
    if start is None:
        return None
    token = start.parameters.get("token", "")
    admission = await tokens.redeem(token, start.call_id) if token else None
    if admission is None and url_token:
        admission = await tokens.redeem(url_token, None)
    if admission is None:
        await socket.close(CLOSE_POLICY, "invalid, expired or used stream token")
        return None
    transport = MediaStreamTransport(socket, dialect, start, admission.info)
    watch = asyncio.create_task(transport.watch(silence_s=silence_timeout_s))
    try:
        await runtime.run(admission, transport)
    finally:
        watch.cancel()
    return transport, admission.route.tenant_id


async def _wait_for_start(socket: StarletteSocket, dialect: Dialect) -> Start | None:
    while (text := await socket.receive()) is not None:
        match dialect.parse(text):
            case Start() as start:
                return start
            case Connected():
                continue
            case other:
                raise ProtocolError(f"{type(other).__name__.lower()} before start")
    return None


class StarletteSocket:
    """A Starlette websocket as a :class:`~voxplane.transports.twilio.stream.MessageSocket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._closed = False

    async def receive(self) -> str | None:
        if self._closed:
            return None
        message = await self._websocket.receive()
        if message["type"] == "websocket.disconnect":
            self._closed = True
            return None
        text = message.get("text")
        if text is None:
            raise ProtocolError("binary messages are not part of the protocol")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ProtocolError(f"message over {MAX_MESSAGE_CHARS} characters")
        return str(text)

    async def send(self, text: str) -> None:
        if self._closed:
            return
        try:
            await self._websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._closed = True  # the peer is gone; the reader sees it next

    async def close(self, code: int, reason: str) -> None:
        """Send the close frame, waiting at most :data:`CLOSE_TIMEOUT_S` for a peer that
        does not read (the connection is then left to uvicorn and the kernel)."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                with contextlib.suppress(RuntimeError, OSError):  # already closed by the peer
                    await self._websocket.close(code, reason)
        except TimeoutError:
            log.warning("media stream close frame not sent: the peer is not reading")


def call_info(form: dict[str, Any], transport: TransportKind) -> CallInfo:
    """The call a TwiML/TeXML webhook's form describes."""
    outbound = str(form.get("Direction", "inbound")).startswith("outbound")
    return CallInfo(
        call_id=form.get("CallSid", "")[:128],
        transport=transport,
        direction="outbound" if outbound else "inbound",
        from_number=form.get("From") or None,
        to_number=form.get("To") or None,
    )


def refusal(refused: CallRefused) -> Response:
    """503 lets Twilio try the number's fallback URL (another worker); the rest are final."""
    if refused.reason in ("draining", "unavailable", "over_capacity"):
        retry = refused.retry_after_s
        headers = None if retry is None else {"Retry-After": str(max(1, round(retry)))}
        return Response(str(refused), status_code=503, headers=headers)
    return Response(
        twiml.reject("busy" if refused.reason == "busy" else "rejected"), media_type=XML
    )


def websocket_url(public_url: str) -> str:
    if public_url.startswith("https://"):
        return "wss://" + public_url.removeprefix("https://")
    return "ws://" + public_url.removeprefix("http://")
