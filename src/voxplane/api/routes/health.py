"""Liveness and readiness probes (unauthenticated, not rate-limited)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from voxplane.api.deps import PlatformDep
from voxplane.errors import UnavailableError
from voxplane.observability import metrics

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database, Redis and the event broker answer, the local models "
    "are loaded",
    responses={503: {"description": "A backend is unreachable, or the models not loaded"}},
)
async def readyz(request: Request, platform: PlatformDep) -> JSONResponse:
    checks: dict[str, str] = {}
    probes = (
        ("database", platform.db.ping),
        ("sessions", platform.backends.ping),
        ("events", platform.bus.ping),
    )
    for name, probe in probes:
        try:
            await probe()
            checks[name] = "ok"
        except UnavailableError:
            checks[name] = "unreachable"
    models: str | None = request.app.state.models  # None: this process loads none at start
    if models is not None:
        checks["models"] = models  # loading, ok or failed
    draining = bool(getattr(request.app.state, "draining", False))
    ready = all(v == "ok" for v in checks.values()) and not draining
    body = {"status": "ready" if ready else "unavailable", "draining": draining, "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    """Prometheus text exposition of this process's metrics (see docs/observability.md)."""
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
