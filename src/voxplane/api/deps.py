"""Dependencies: the platform, the authenticated caller (rate-limited), pagination."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from voxplane.errors import AuthError, InvalidError, LimitError
from voxplane.observability.logs import bind
from voxplane.services.platform import Platform
from voxplane.services.principal import Principal
from voxplane.services.schemas import unstorable
from voxplane.sessions import Decision, Rate


async def get_platform(request: Request) -> Platform:
    # async so that FastAPI calls it inline: a plain def would cost a threadpool hop
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or len(value) > 4096:
        raise AuthError("send 'Authorization: Bearer <API key or access token>'")
    return value.strip()


async def get_principal(request: Request, response: Response, platform: PlatformDep) -> Principal:
    """Authenticate, then charge the tenant's and the key's request buckets."""
    client = _address(request)
    rid: str | None = request.state.request_id if hasattr(request.state, "request_id") else None
    caller = await platform.auth.authenticate(_bearer(request), ip=client, request_id=rid)
    principal = caller.principal
    request.state.tenant_id = principal.tenant_id  # scope["state"]: the access log reads it
    bind(tenant_id=principal.tenant_id)

    per_minute, burst = caller.tenant_rate
    started = time.perf_counter()
    limiter = platform.backends.limiter
    decision = await limiter.hit(f"tenant:{principal.tenant_id}", Rate(per_minute, 60.0, burst))
    if decision.allowed and caller.key_rate is not None and principal.actor_id is not None:
        key_rate = Rate(caller.key_rate, 60.0, max(1, min(burst, caller.key_rate)))
        key_decision = await limiter.hit(f"key:{principal.actor_id}", key_rate)
        decision = key_decision if not key_decision.allowed else _tighter(decision, key_decision)
    elapsed_ms = 1000 * (time.perf_counter() - started)

    headers = _ratelimit_headers(decision)
    headers["Server-Timing"] = f"ratelimit;dur={elapsed_ms:.3f}"
    request.state.ratelimit_headers = headers
    if not decision.allowed:
        raise LimitError("request rate limit exceeded", retry_after_s=decision.retry_after_s)
    response.headers.update(headers)
    return principal


def _tighter(a: Decision, b: Decision) -> Decision:
    return a if a.remaining <= b.remaining else b


def _ratelimit_headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(max(0, round(decision.reset_s + 0.499))),
    }


PrincipalDep = Annotated[Principal, Depends(get_principal)]


LOGIN_RATE = Rate(10, 60.0, 10)
"""Password attempts per email address: slows guessing down to ten a minute."""
ANONYMOUS_RATE = Rate(120, 60.0, 30)
"""Unauthenticated auth requests (login, refresh, logout) per client address."""


async def throttle_anonymous(
    request: Request, platform: Platform, email: str | None = None
) -> None:
    """Rate-limit the routes that take no bearer credential, by address and by email."""
    limiter = platform.backends.limiter
    checks = [(f"anon:{_address(request) or 'unknown'}", ANONYMOUS_RATE)]
    if email is not None:
        checks.append((f"login:{email}", LOGIN_RATE))
    for key, rate in checks:
        decision = await limiter.hit(key, rate)
        if not decision.allowed:
            request.state.ratelimit_headers = _ratelimit_headers(decision)
            raise LimitError("too many attempts; slow down", retry_after_s=decision.retry_after_s)


async def require_platform_admin(request: Request, platform: PlatformDep) -> None:
    """The platform admin's bearer token (``VOXPLANE_ADMIN_TOKEN``), compared in constant time."""
    expected = platform.settings.admin_token
    if expected is None:
        raise AuthError("the platform admin API is disabled (VOXPLANE_ADMIN_TOKEN is unset)")
    given = _bearer(request)
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise AuthError("wrong platform admin token")


AdminDep = Annotated[None, Depends(require_platform_admin)]


async def storable_params(request: Request) -> None:
    """Path and query values the databases can take: a ``%00`` is a 422, not a 500."""
    for where, params in (
        ("path", list(request.path_params.items())),
        ("query", request.query_params.multi_items()),
    ):
        for name, value in params:
            found = unstorable(value)
            if found is not None:
                raise InvalidError(found[1], field=f"{where}.{name}")


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="From next_cursor")] = None,
) -> PageParams:
    # async so that FastAPI calls it inline (a class dependency runs in the threadpool)
    return PageParams(limit, cursor)


PageDep = Annotated[PageParams, Depends(page_params)]
