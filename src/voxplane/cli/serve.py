"""``voxplane serve``: the whole platform in one process, on embedded defaults."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

try:
    import uvloop
except ImportError:  # not on Windows
    uvloop = None  # type: ignore[assignment]

from voxplane.api.app import create_app
from voxplane.cli.common import add_store_options, settings_from
from voxplane.observability.logs import configure_logging
from voxplane.services.platform import Platform, open_platform
from voxplane.settings import Settings

log = logging.getLogger("voxplane.serve")
PURGE_EVERY_S = 3600.0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the platform (API and docs) in one process",
        description="Run the control plane: REST API under /v1, OpenAPI docs at /docs, "
        "health at /healthz and /readyz. Embedded defaults: SQLite and in-memory limits.",
    )
    parser.add_argument("--host", help="address to bind (env VOXPLANE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (env VOXPLANE_PORT, default 8080)")
    add_store_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args, host=args.host, port=args.port)
    configure_logging(settings.log_level)
    if uvloop is not None:
        uvloop.run(serve(settings))
    else:
        asyncio.run(serve(settings))
    return 0


class _Server(uvicorn.Server):
    """Marks the app as draining (``/readyz`` turns 503) as soon as shutdown begins."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.app.state.draining = True
        super().handle_exit(sig, frame)


async def serve(settings: Settings) -> None:
    async with open_platform(settings) as platform:
        app = create_app(settings, platform)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="off",
            timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        )
        server = _Server(config, app)
        await _announce(platform, settings)
        # Everything built so far lives as long as the process: out of the collector's
        # sight, a full collection walks only what requests made (~100 ms stalls before).
        gc.collect()
        gc.freeze()
        async with asyncio.TaskGroup() as tasks:
            purge = tasks.create_task(_purge_forever(platform))
            try:
                await server.serve()
            finally:
                purge.cancel()


async def _announce(platform: Platform, settings: Settings) -> None:
    where = "SQLite in " + str(settings.data_dir) if settings.is_sqlite else "PostgreSQL"
    print(
        f"voxplane: serving http://{settings.host}:{settings.port} "
        f"(API docs at /docs; {where}; limits in {'Redis' if settings.redis_url else 'memory'})",
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
            removed = await platform.calls.purge_expired(datetime.now(UTC))
            if removed:
                log.info("retention purge", extra={"calls_removed": removed})
        except Exception:  # a failed purge is retried next hour, the server stays up
            log.exception("retention purge failed")
        await asyncio.sleep(PURGE_EVERY_S)
