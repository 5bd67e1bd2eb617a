"""The FastAPI application, built around an already-open :class:`Platform`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from voxplane import __version__
from voxplane.api import problems
from voxplane.api.deps import storable_params
from voxplane.api.middleware import RequestMiddleware
from voxplane.api.routes import (
    agents,
    audit,
    auth,
    calls,
    credentials,
    health,
    keys,
    members,
    numbers,
    tenants,
    usage,
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
    )
    app.state.platform = platform
    app.state.draining = False
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(storable_params)])
    for module in (tenants, auth, members, keys, agents, numbers, credentials, calls, usage, audit):
        v1.include_router(module.router)
    app.include_router(health.router)
    app.include_router(v1)
    problems.install(app)
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
