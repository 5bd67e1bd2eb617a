"""``/v1/invitations``: pending invitations for admins, and accepting one."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep, throttle_anonymous
from voxplane.security.tokens import token_digest
from voxplane.services.schemas import (
    InvitationAccept,
    InvitationPublic,
    MemberPublic,
    PageOf,
    TokenPair,
)

router = APIRouter(prefix="/invitations", tags=["members"])


@router.get(
    "",
    summary="List the tenant's invitations (never their tokens)",
    responses=problems.AUTHENTICATED,
)
async def list_invitations(
    platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[InvitationPublic]:
    return await platform.invitations.list(who, page.cursor, page.limit)


@router.delete(
    "/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw an invitation",
    responses={**problems.AUTHENTICATED, **problems.responses(404)},
)
async def revoke_invitation(invitation_id: str, platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.invitations.revoke(who, invitation_id)


@router.post(
    "/accept",
    summary="Accept with the link token as a new account (choose its password); signs in",
    responses=problems.responses(401, 409, 422, 429),
)
async def accept_with_token(
    body: InvitationAccept, request: Request, platform: PlatformDep
) -> TokenPair:
    token = body.token.get_secret_value()
    await throttle_anonymous(request, platform, f"invite:{token_digest(token)}")
    password = body.password.get_secret_value()
    return await platform.invitations.accept_with_token(token, password, request.state.request_id)


@router.post(
    "/{invitation_id}/accept",
    summary="Accept an invitation of your email, signed in as yourself",
    responses={**problems.AUTHENTICATED, **problems.responses(404, 409)},
)
async def accept_signed_in(
    invitation_id: str, platform: PlatformDep, who: PrincipalDep
) -> MemberPublic:
    return await platform.invitations.accept_signed_in(who, invitation_id)
