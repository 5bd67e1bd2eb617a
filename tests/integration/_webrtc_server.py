"""The platform with WebRTC calls, in this test's event loop, and a browser-less caller.

The API and ``POST /v1/webrtc/calls`` are served in-process (httpx over ASGI), so the
server's peer connections and the caller's share one loop; media goes over real UDP
sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from test_runtime import runtime_of

from voxplane.agents.schema import AgentConfig
from voxplane.api.app import create_app
from voxplane.media.wav import decode_wav
from voxplane.runtime.calls import CallRuntime
from voxplane.runtime.factory import ProviderFactory
from voxplane.runtime.webrtc import WebRtcCalls
from voxplane.services.platform import Platform, open_platform
from voxplane.services.principal import system_principal
from voxplane.services.schemas import TenantCreate
from voxplane.settings import Settings
from voxplane.testing.webrtc_caller import Utterance, WebRtcCaller
from voxplane.transports.webrtc.ice import gather_on
from voxplane.transports.webrtc.transport import WebRtcOptions

FSDD = Path("/work/shared/audio/fsdd")

SCRIPTED_AGENT: dict[str, Any] = {
    "name": "web scripted",
    "stt": {"provider": "scripted", "transcripts": ["Seven."]},
    "tts": {"provider": "scripted", "ms_per_word": 150},
    "turn": {"vad": "energy"},
    "brain": {
        "type": "scripted",
        "greeting": "Hello there.",
        "reply": "You said a digit.",
        "hang_up_after": 1,
    },
}


def digit(name: str = "7_jackson_0") -> Utterance:
    """A real spoken digit (FSDD, 8 kHz), said 2 s into the call (after the greeting)."""
    samples, rate = decode_wav((FSDD / f"{name}.wav").read_bytes())
    return Utterance(2.0, samples, rate)


@dataclass
class WebServer:
    platform: Platform
    runtime: CallRuntime
    calls: WebRtcCalls
    http: httpx.AsyncClient

    async def tenant(self, agent: dict[str, Any] | None = None) -> tuple[str, str, str]:
        """A new tenant with an agent: (tenant_id, API key, agent_id)."""
        name = f"t-{secrets.token_hex(4)}"
        body = TenantCreate(name=name, email=f"o@{name}.test", password="a long secret")
        created = await self.platform.tenants.create(body)
        owner = system_principal(created.tenant_id)
        config = AgentConfig.model_validate(agent or SCRIPTED_AGENT)
        made = await self.platform.agents.create(owner, config)
        return created.tenant_id, created.api_key, made.id

    async def token(self, api_key: str, agent_id: str) -> httpx.Response:
        return await self.http.post(
            "/v1/webrtc/tokens",
            json={"agent_id": agent_id},
            headers={"Authorization": f"Bearer {api_key}"},
        )

    async def offer(self, token: str, sdp: str, kind: str = "offer") -> httpx.Response:
        return await self.http.post(
            "/v1/webrtc/calls",
            json={"sdp": sdp, "type": kind},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def call(self, api_key: str, agent_id: str, caller: WebRtcCaller) -> str:
        """Token, offer, answer: the call's id."""
        token = (await self.token(api_key, agent_id)).json()["token"]
        response = await self.offer(token, await caller.offer())
        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer["type"] == "answer"
        await caller.accept(answer["sdp"])
        return str(answer["call_id"])

    async def record_of(self, api_key: str, call_id: str, timeout_s: float = 10.0) -> Any:
        """The call's record once the runtime has written it."""
        async with asyncio.timeout(timeout_s):
            while True:
                response = await self.http.get(
                    f"/v1/calls/{call_id}", headers={"Authorization": f"Bearer {api_key}"}
                )
                if response.status_code == 200:
                    return response.json()
                await asyncio.sleep(0.1)


@asynccontextmanager
async def web_server(
    settings: Settings, factory: ProviderFactory | None = None, max_calls: int | None = None
) -> AsyncIterator[WebServer]:
    gather_on(["127.0.0.1"])
    # No events worker: its tasks live as long as the process, and the tests check that a
    # call leaves no task of its own running.
    settings = settings.model_copy(update={"events_worker": False})
    try:
        async with open_platform(settings) as platform:
            runtime = runtime_of(platform, factory, record=True, max_calls=max_calls)
            calls = WebRtcCalls(runtime, platform.webrtc, WebRtcOptions(connect_timeout_s=5.0))
            app = create_app(settings, platform)
            app.include_router(calls.router())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://voxplane") as http:
                try:
                    yield WebServer(platform, runtime, calls, http)
                finally:
                    await calls.aclose()
    finally:
        gather_on([])
