"""The FastAPI application, built around an already-open :class:`Platform`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from voxplane import __version__
from voxplane.api import problems
from voxplane.api.deps import storable_params
from voxplane.api.middleware import PageCallsCors, RequestMiddleware
from voxplane.api.routes import (
    agents,
    analytics,
    audit,
    auth,
    calls,
    credentials,
    health,
    invitations,
    keys,
    members,
    numbers,
    tenants,
    trunks,
    usage,
    users,
    webhooks,
    webrtc,
)
from voxplane.services.platform import Platform, open_platform
from voxplane.settings import Settings

DESCRIPTION = """\
The voxplane control plane. Authenticate with `Authorization: Bearer <API key>` (from
`voxplane admin bootstrap` or `POST /v1/api-keys`) or with an access token from
`POST /v1/auth/login`. Errors are `application/problem+json` (RFC 9457). Lists are
newest first and paginated: pass `next_cursor` back as `?cursor=`.
"""


class _Api(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """The document FastAPI generates, plus the problem schema every error refers to."""
        if self.openapi_schema is None:
            self.openapi_schema = problems.document(super().openapi())
        return self.openapi_schema


def create_app(settings: Settings, platform: Platform | None = None) -> FastAPI:
    """The API. Given a ``platform``, the caller owns its lifetime; without one, the app
    opens it from ``settings`` at startup and closes it at shutdown (ASGI lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if platform is not None:
            yield
            return
        async with open_platform(settings) as opened:
            app.state.platform = opened
            yield

    app = _Api(
        title="voxplane",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        # One span per request, made by our middleware (it also puts the trace id in the
        # access log); FastAPI's own would be a second server span for the same request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.platform = platform
    app.state.draining = False
    app.state.models = None  # `serve` sets it while it loads the local models
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(storable_params)])
    for module in (
        tenants, users, auth, members, invitations, keys, agents, numbers, trunks,
        credentials, calls, usage, analytics, audit, webrtc, webhooks,
    ):  # fmt: skip
        v1.include_router(module.router)
    v1.include_router(webrtc.keys)
    app.include_router(health.router)
    app.include_router(v1)
    problems.install(app)
    app.add_middleware(PageCallsCors)
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
