"""``/v1/members``: users of the tenant and their roles."""

from __future__ import annotations

from fastapi import APIRouter, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import (
    InvitationCreated,
    MemberCreate,
    MemberPublic,
    MemberUpdate,
    PageOf,
)

router = APIRouter(prefix="/members", tags=["members"], responses=problems.AUTHENTICATED)


@router.get("", summary="List members")
async def list_members(
    platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[MemberPublic]:
    return await platform.members.list(who, page.cursor, page.limit)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Invite an email to join with a role (the link token is shown once)",
    description="The answer is the same whether or not the email has an account. A new "
    "account accepts with the token (`POST /v1/invitations/accept`); an existing one signs "
    "in and accepts by id (`POST /v1/invitations/{invitation_id}/accept`).",
    responses=problems.responses(409),
)
async def invite_member(
    body: MemberCreate, platform: PlatformDep, who: PrincipalDep
) -> InvitationCreated:
    return await platform.invitations.invite(who, body)


@router.patch(
    "/{member_id}", summary="Change a member's role", responses=problems.responses(404, 409)
)
async def update_member(
    member_id: str, body: MemberUpdate, platform: PlatformDep, who: PrincipalDep
) -> MemberPublic:
    return await platform.members.update(who, member_id, body)


@router.delete(
    "/{member_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member: ends their sessions here and revokes their API keys",
    responses=problems.responses(404, 409),
)
async def remove_member(member_id: str, platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.members.remove(who, member_id)
