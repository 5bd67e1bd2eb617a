"""``/v1/webrtc/tokens``: a single-use token that lets a web page call one agent, and
``/v1/publishable-keys``: keys a public page may hold to ask for those tokens itself.

The call itself (``POST /v1/webrtc/calls``, the SDP offer/answer) carries media, so the
runtime serves it (``voxplane.runtime.webrtc``), mounted by ``voxplane serve``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from voxplane.api import problems
from voxplane.api.deps import (
    PageDep,
    PlatformDep,
    PrincipalDep,
    bearer,
    charge_tenant,
    get_principal,
    throttle_anonymous,
)
from voxplane.errors import ForbiddenError
from voxplane.services.principal import Principal
from voxplane.services.schemas import (
    PageOf,
    PublishableKeyCreate,
    PublishableKeyCreated,
    PublishableKeyPublic,
    WebRtcTokenCreate,
    WebRtcTokenPublic,
)
from voxplane.services.webrtc import PUBLISHABLE_PREFIX

router = APIRouter(prefix="/webrtc", tags=["webrtc"], responses=problems.AUTHENTICATED)
keys = APIRouter(
    prefix="/publishable-keys", tags=["publishable keys"], responses=problems.AUTHENTICATED
)
NOT_FOUND = problems.responses(404)


async def token_caller(
    request: Request, response: Response, platform: PlatformDep
) -> tuple[Principal, str | None]:
    """Who asks for a call token, and the one agent it is bound to (a publishable key's),
    checked before the body is read, like every authenticated route."""
    secret = bearer(request)
    if not secret.startswith(f"{PUBLISHABLE_PREFIX}_"):
        return await get_principal(request, response, platform), None
    await throttle_anonymous(request, platform)  # a page's key is public: bound guessing
    page = await platform.webrtc.published(
        secret,
        request.headers.get("origin"),
        ip=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
    )
    await charge_tenant(request, response, platform, page.principal, page.tenant_rate)
    return page.principal, page.agent_id


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="A short-lived, single-use WebRTC call token for one agent",
    description="With an API key or a login's access token; or, from a web page, with a "
    "publishable key (`vpk_…`): then only for the key's agent, and only when the request's "
    "`Origin` is one the key allows (else `403`).",
    responses=problems.responses(403, 404),
)
async def create_token(
    body: WebRtcTokenCreate,
    platform: PlatformDep,
    caller: Annotated[tuple[Principal, str | None], Depends(token_caller)],
) -> WebRtcTokenPublic:
    who, bound_to = caller
    if bound_to is not None and body.agent_id != bound_to:
        raise ForbiddenError("this publishable key is for another agent")
    return await platform.webrtc.issue(who, body.agent_id)


@keys.get("", summary="List publishable keys (never the keys themselves)")
async def list_keys(
    platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[PublishableKeyPublic]:
    return await platform.webrtc.list_keys(who, page.cursor, page.limit)


@keys.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a publishable key for one agent and its allowed origins; shown once",
    responses=NOT_FOUND,
)
async def create_key(
    body: PublishableKeyCreate, platform: PlatformDep, who: PrincipalDep
) -> PublishableKeyCreated:
    return await platform.webrtc.create_key(who, body)


@keys.get("/{publishable_key_id}", summary="Get a publishable key", responses=NOT_FOUND)
async def get_key(
    publishable_key_id: str, platform: PlatformDep, who: PrincipalDep
) -> PublishableKeyPublic:
    return await platform.webrtc.get_key(who, publishable_key_id)


@keys.delete("/{publishable_key_id}", summary="Revoke a publishable key", responses=NOT_FOUND)
async def revoke_key(
    publishable_key_id: str, platform: PlatformDep, who: PrincipalDep
) -> PublishableKeyPublic:
    return await platform.webrtc.revoke_key(who, publishable_key_id)
