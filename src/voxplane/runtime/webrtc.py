"""WebRTC calls into the call runtime: one HTTP exchange, WHIP-style.

::

    page ──POST /v1/webrtc/tokens {"agent_id"} (API key or session; the API)──► {"token", …}
    page ──POST /v1/webrtc/calls, Bearer <call token>, {"sdp", "type": "offer"}──►
              spend the token (401) ─► check the offer (422) ─► runtime.admit (429/403/503)
              ─► answer it (aiortc) ◄── {"sdp", "type": "answer", "call_id"} (201)
    page ══ ICE, DTLS, Opus ══► connected within connect_timeout_s ─► runtime.run
    page ◄─ data channel "voxplane": call, state, transcript, metrics (docs/webrtc.md)

The route lives here, mounted by ``cli/serve.py``, so the control-plane API never imports
the media path (the token route is the API's). :class:`WebRtcCalls` owns every call it
started: :meth:`WebRtcCalls.aclose` ends them and waits, when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Literal

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from voxplane.errors import (
    AuthError,
    ControlError,
    ForbiddenError,
    InvalidError,
    LimitError,
    NotFoundError,
    UnavailableError,
)
from voxplane.observability.logs import bind, unbind
from voxplane.pipeline.records import TurnMetrics, TurnRecord
from voxplane.runtime.calls import Admission, CallRefused, CallRuntime
from voxplane.services.webrtc import WebRtcService
from voxplane.transports.base import CallInfo
from voxplane.transports.webrtc import messages
from voxplane.transports.webrtc.transport import (
    MAX_OFFER_CHARS,
    OfferError,
    WebRtcOptions,
    WebRtcTransport,
    check_offer,
)

log = logging.getLogger(__name__)


class WebRtcOffer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sdp: str = Field(min_length=1, max_length=MAX_OFFER_CHARS)
    type: Literal["offer"]


class WebRtcAnswer(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    call_id: str = Field(description="The call's id: GET /v1/calls/{call_id} once it ended")


def _call_token(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or len(value) > 512:
        raise AuthError("send 'Authorization: Bearer <call token from POST /v1/webrtc/tokens>'")
    return value.strip()


def _refusal(refused: CallRefused) -> ControlError:
    match refused.reason:
        case "busy":
            return LimitError(str(refused), retry_after_s=5.0, kind="concurrent_calls")
        case "quota":
            return ForbiddenError(str(refused))
        case "unknown_number":
            return NotFoundError("the token's agent cannot take calls")
        case _:
            return UnavailableError(str(refused), retry_after_s=refused.retry_after_s)


class WebRtcCalls:
    """``POST /v1/webrtc/calls`` and the calls it started."""

    def __init__(self, runtime: CallRuntime, tokens: WebRtcService, options: WebRtcOptions) -> None:
        self._runtime = runtime
        self._tokens = tokens
        self._options = options
        self._calls: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> int:
        """Calls started here and not finished (connecting or running)."""
        return len(self._calls)

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/v1/webrtc", tags=["webrtc"])
        router.add_api_route(
            "/calls",
            self.create_call,
            methods=["POST"],
            status_code=status.HTTP_201_CREATED,
            summary="Start a call: the page's SDP offer in, the answer out (WHIP-style)",
        )
        return router

    async def create_call(self, body: WebRtcOffer, request: Request) -> WebRtcAnswer:
        route = await self._tokens.redeem(_call_token(request))
        try:
            check_offer(body.sdp)
        except OfferError as error:
            raise InvalidError(str(error), field="body.sdp") from error
        info = CallInfo(f"webrtc-{secrets.token_hex(8)}", "webrtc", "inbound")
        try:
            admission = await self._runtime.admit(info, route)
        except CallRefused as refused:
            raise _refusal(refused) from refused
        try:
            transport, answer = await WebRtcTransport.accept(body.sdp, self._options, info)
        except OfferError as error:
            await self._runtime.abandon(admission)
            raise InvalidError(str(error), field="body.sdp") from error
        except BaseException:
            await self._runtime.abandon(admission)
            raise
        task = asyncio.get_running_loop().create_task(self._call(admission, transport))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)
        return WebRtcAnswer(sdp=answer, call_id=admission.call_id)

    async def _call(self, admission: Admission, transport: WebRtcTransport) -> None:
        token = bind(call_id=admission.call_id, tenant_id=admission.route.tenant_id)
        try:
            if not await transport.connected():
                log.info("webrtc call never connected")
                return
            transport.publish(messages.encode("call", call_id=admission.call_id))
            await self._runtime.run(admission, transport, WebRtcObserver(transport))
        except Exception:  # a failed call must not take the others down
            log.exception("webrtc call failed")
        finally:
            await self._runtime.abandon(admission)  # no-op once run() has settled it
            with contextlib.suppress(Exception):
                await transport.aclose()
            unbind(token)

    async def aclose(self) -> None:
        """End every call started here and wait for them (records written by the runtime)."""
        calls = list(self._calls)
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


class WebRtcObserver:
    """Sends the live transcript and each answer's latency over the data channel."""

    def __init__(self, transport: WebRtcTransport) -> None:
        self._transport = transport

    def __call__(self, record: TurnRecord, metrics: TurnMetrics | None) -> None:
        publish = self._transport.publish
        publish(
            messages.encode(
                "transcript",
                role=record.role,
                text=record.text,
                start_ms=record.start_ms,
                end_ms=record.end_ms,
                interrupted=record.interrupted,
            )
        )
        if record.role == "user":
            publish(messages.encode("state", state="thinking"))
        if metrics is not None:
            publish(
                messages.encode(
                    "metrics",
                    turn=metrics.turn,
                    stt_ms=metrics.stt_ms,
                    brain_ms=metrics.brain_ms,
                    tts_ms=metrics.tts_ms,
                    voice_to_voice_ms=metrics.voice_to_voice_ms,
                )
            )
