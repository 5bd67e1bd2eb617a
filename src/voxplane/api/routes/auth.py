"""``/v1/auth``: password login, token refresh, logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from voxplane.api import problems
from voxplane.api.deps import PlatformDep, PrincipalDep, throttle_anonymous
from voxplane.services.schemas import (
    LoginRequest,
    MyTenant,
    RefreshRequest,
    SwitchRequest,
    TokenPair,
)

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    summary="Exchange email and password for an access and a refresh token",
    responses=problems.responses(401, 403, 422, 429),
)
async def login(body: LoginRequest, request: Request, platform: PlatformDep) -> TokenPair:
    await throttle_anonymous(request, platform, f"login:{body.email}")
    password = body.password.get_secret_value()
    if body.invitation_id is not None:
        return await platform.invitations.sign_in_accepting(
            body.email, password, body.invitation_id, request.state.request_id
        )
    return await platform.auth.login(body.email, password, body.tenant_id)


@router.post(
    "/refresh",
    summary="Spend a refresh token for a new pair (single use)",
    responses=problems.responses(401, 422, 429),
)
async def refresh(body: RefreshRequest, request: Request, platform: PlatformDep) -> TokenPair:
    await throttle_anonymous(request, platform)
    return await platform.auth.refresh(body.refresh_token.get_secret_value())


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End a login session",
    responses=problems.responses(422, 429),
)
async def logout(body: RefreshRequest, request: Request, platform: PlatformDep) -> None:
    await throttle_anonymous(request, platform)
    await platform.auth.logout(body.refresh_token.get_secret_value())


@router.post(
    "/logout-session",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the login session of the access token used",
    responses=problems.AUTHENTICATED,
)
async def logout_session(platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.auth.logout_session(who)


@router.get(
    "/tenants",
    summary="The tenants the signed-in user belongs to (an API key: its own)",
    responses=problems.AUTHENTICATED,
)
async def my_tenants(platform: PlatformDep, who: PrincipalDep) -> list[MyTenant]:
    return await platform.auth.my_tenants(who)


@router.post(
    "/switch",
    summary="Switch to another of the user's tenants: a new token pair, this session ends",
    responses={**problems.AUTHENTICATED, **problems.responses(404)},
)
async def switch_tenant(body: SwitchRequest, platform: PlatformDep, who: PrincipalDep) -> TokenPair:
    return await platform.auth.switch(who, body.tenant_id)
