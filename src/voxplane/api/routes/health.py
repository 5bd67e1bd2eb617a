"""Liveness and readiness probes (unauthenticated, not rate-limited)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from voxplane.api.deps import PlatformDep
from voxplane.errors import UnavailableError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database and Redis answer",
    responses={503: {"description": "A backend is unreachable"}},
)
async def readyz(request: Request, platform: PlatformDep) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("database", platform.db.ping), ("sessions", platform.backends.ping)):
        try:
            await probe()
            checks[name] = "ok"
        except UnavailableError:
            checks[name] = "unreachable"
    draining = bool(getattr(request.app.state, "draining", False))
    ready = all(v == "ok" for v in checks.values()) and not draining
    body = {"status": "ready" if ready else "unavailable", "draining": draining, "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)
