"""Telnyx media streaming into the call runtime: the TeXML voice webhook and the stream
websocket, the Telnyx twin of :mod:`voxplane.runtime.media_streams` (Twilio).

::

    Telnyx ──POST /v1/telnyx/voice (TeXML form, Ed25519-signed)──► route To, check
                telnyx-signature-ed25519 against the tenant's "telnyx" public keys,
                runtime.admit ──► <Reject> / 503 if refused
           ◄── <Connect><Stream url="wss://…/v1/telnyx/stream?token=…" bidirectionalMode="rtp">
               <Redirect>…/v1/telnyx/voice/ended</Redirect>
    Telnyx ══ WS /v1/telnyx/stream ══► connected, start ──► runtime.run
           ◄── media / mark / clear          until stop, hang-up or transfer
    Telnyx ──POST /v1/telnyx/voice/ended (signed)──► <Dial> the transfer target, or <Hangup/>

The tenant stores its Telnyx account's public key (base64, as the portal shows it) as a
credential with ``provider: "telnyx"``. The single-use stream token rides in the stream
URL: TeXML documents no custom parameters for the start message. TeXML runs the verbs
after ``<Connect>`` once the stream stops (it has no ``<Connect action>``), so a
``<Redirect>`` there asks voxplane what comes next: the target of a transfer the agent
asked for, or a hang-up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request, Response, WebSocket

from voxplane.runtime.calls import CallRefused, CallRuntime
from voxplane.runtime.media_streams import (
    XML,
    StreamTokens,
    Transfers,
    call_info,
    refusal,
    serve_stream,
    websocket_url,
)
from voxplane.services.credentials import CredentialService
from voxplane.services.numbers import PhoneNumberService
from voxplane.transports.twilio import telnyx_signature, twiml
from voxplane.transports.twilio.telnyx import TelnyxDialect

log = logging.getLogger(__name__)

_REFUSED = "invalid or stale telnyx-signature-ed25519"
STREAM_ATTRIBUTES = {"bidirectionalMode": "rtp", "bidirectionalCodec": "PCMU"}
"""Both ways, as RTP payloads (8 kHz μ-law), not MP3 files."""


@dataclass(frozen=True, slots=True)
class TelnyxRoutes:
    """What the Telnyx endpoints need; :meth:`router` builds them."""

    runtime: CallRuntime
    tokens: StreamTokens
    numbers: PhoneNumberService
    credentials: CredentialService
    public_url: str
    """Where Telnyx reaches this server (``VOXPLANE_PUBLIC_URL``), no trailing slash."""
    silence_timeout_s: float
    """A stream silent this long is a dead line (``VOXPLANE_STREAM_SILENCE_TIMEOUT_S``)."""

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/v1/telnyx", tags=["telephony"])
        transfers = Transfers()

        @router.post("/voice", summary="Telnyx TeXML voice webhook: answer with a media stream")
        async def voice(request: Request) -> Response:
            verified = await self._verified_form(request)
            if isinstance(verified, Response):
                return verified
            try:
                admission = await self.runtime.admit(call_info(verified[0], "telnyx"))
                token = await self.tokens.issue(admission)
            except CallRefused as refused:
                return refusal(refused)
            url = f"{websocket_url(self.public_url)}/v1/telnyx/stream?token={quote(token)}"
            document = twiml.connect_stream(
                url,
                {},
                attributes=STREAM_ATTRIBUTES,
                redirect=self.public_url + "/v1/telnyx/voice/ended",
            )
            return Response(document, media_type=XML)

        @router.post("/voice/ended", summary="Telnyx: the media stream ended")
        async def ended(request: Request) -> Response:
            return transfers.next_step(await self._verified_form(request))

        @router.websocket("/stream")
        async def stream(websocket: WebSocket) -> None:
            url_token = websocket.query_params.get("token")
            transfers.note(
                await serve_stream(
                    websocket,
                    TelnyxDialect(),
                    self.runtime,
                    self.tokens,
                    url_token=url_token,
                    silence_timeout_s=self.silence_timeout_s,
                )
            )

        return router

    async def _verified_form(self, request: Request) -> tuple[dict[str, str], str] | Response:
        """The webhook's form and the tenant owning the dialled number, when Telnyx signed
        it with a key of that tenant; else the response refusing it."""
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return Response("expected a form", status_code=415)
        body = await request.body()
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        info = call_info(form, "telnyx")
        dialled = info.to_number if info.direction == "inbound" else info.from_number
        if not info.call_id or not dialled:
            return Response("CallSid, To and From are required", status_code=400)
        route = await self.numbers.route(dialled)
        if route is None:
            return Response(twiml.reject(), media_type=XML)
        keys = await self.credentials.reveal_provider(route.tenant_id, "telnyx")
        headers = request.headers
        signature = headers.get(telnyx_signature.SIGNATURE_HEADER, "")
        timestamp = headers.get(telnyx_signature.TIMESTAMP_HEADER, "")
        if not keys or not telnyx_signature.is_valid(signature, timestamp, body, keys, time.time()):
            log.warning("telnyx webhook: bad signature", extra={"tenant_id": route.tenant_id})
            return Response(_REFUSED, status_code=403)
        return form, route.tenant_id
