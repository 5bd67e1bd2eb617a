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


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or len(value) > 4096:
        raise AuthError("send 'Authorization: Bearer <API key or access token>'")
    return value.strip()


async def get_principal(request: Request, response: Response, platform: PlatformDep) -> Principal:
    """Authenticate, then charge the tenant's and the key's request buckets."""
    client = _address(request)
    rid: str | None = request.state.request_id if hasattr(request.state, "request_id") else None
    caller = await platform.auth.authenticate(bearer(request), ip=client, request_id=rid)
    principal = caller.principal
    request.state.tenant_id = principal.tenant_id  # scope["state"]: the access log reads it
    bind(tenant_id=principal.tenant_id)

    await charge_tenant(
        request, response, platform, principal, caller.tenant_rate, key_rate=caller.key_rate
    )
    return principal


async def charge_tenant(
    request: Request,
    response: Response,
    platform: Platform,
    principal: Principal,
    tenant_rate: tuple[int, int],
    *,
    key_rate: int | None = None,
) -> None:
    """Charge the tenant's request bucket (and the key's, with ``key_rate``): the
    ``RateLimit-*`` headers, or :class:`LimitError` when one is empty."""
    per_minute, burst = tenant_rate
    started = time.perf_counter()
    limiter = platform.backends.limiter
    decision = await limiter.hit(f"tenant:{principal.tenant_id}", Rate(per_minute, 60.0, burst))
    if decision.allowed and key_rate is not None and principal.actor_id is not None:
        rate = Rate(key_rate, 60.0, max(1, min(burst, key_rate)))
        key_decision = await limiter.hit(f"key:{principal.actor_id}", rate)
        decision = key_decision if not key_decision.allowed else _tighter(decision, key_decision)
    elapsed_ms = 1000 * (time.perf_counter() - started)

    headers = _ratelimit_headers(decision)
    headers["Server-Timing"] = f"ratelimit;dur={elapsed_ms:.3f}"
    request.state.ratelimit_headers = headers
    if not decision.allowed:
        raise LimitError("request rate limit exceeded", retry_after_s=decision.retry_after_s)
    response.headers.update(headers)


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
"""Password attempts per email address, and acceptances per invitation token: ten a minute."""
ANONYMOUS_RATE = Rate(120, 60.0, 30)
"""Unauthenticated requests (login, refresh, logout, invitation acceptance, wrong platform
admin tokens) per client address."""


async def throttle_anonymous(
    request: Request, platform: Platform, secret_for: str | None = None
) -> None:
    """Rate-limit the routes that take no bearer credential, by address, and by what a
    guess is aimed at (``login:<email>``, ``invite:<token digest>``) like a password."""
    limiter = platform.backends.limiter
    checks = [(f"anon:{_address(request) or 'unknown'}", ANONYMOUS_RATE)]
    if secret_for is not None:
        checks.append((secret_for, LOGIN_RATE))
    for key, rate in checks:
        decision = await limiter.hit(key, rate)
        if not decision.allowed:
            request.state.ratelimit_headers = _ratelimit_headers(decision)
            raise LimitError("too many attempts; slow down", retry_after_s=decision.retry_after_s)


async def require_platform_admin(
    request: Request, response: Response, platform: PlatformDep
) -> None:
    """The platform admin's bearer token (``VOXPLANE_ADMIN_TOKEN``), compared in constant time.

    Wrong tokens are throttled per client address like the other unauthenticated routes;
    the admin's own requests share one bucket at the default tenant rate, so the admin API
    is rate-limited like every authenticated route.
    """
    expected = platform.settings.admin_token
    if expected is None:
        raise AuthError("the platform admin API is disabled (VOXPLANE_ADMIN_TOKEN is unset)")
    given = bearer(request)
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        await throttle_anonymous(request, platform)
        raise AuthError("wrong platform admin token")
    settings = platform.settings
    rate = Rate(settings.default_rate_per_minute, 60.0, settings.default_rate_burst)
    decision = await platform.backends.limiter.hit("platform-admin", rate)
    headers = _ratelimit_headers(decision)
    request.state.ratelimit_headers = headers
    if not decision.allowed:
        raise LimitError("request rate limit exceeded", retry_after_s=decision.retry_after_s)
    response.headers.update(headers)


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
