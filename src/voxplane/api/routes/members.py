"""``/v1/members``: users of the tenant and their roles."""

from __future__ import annotations

from fastapi import APIRouter, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import MemberCreate, MemberPublic, MemberUpdate, PageOf

router = APIRouter(prefix="/members", tags=["members"], responses=problems.AUTHENTICATED)


@router.get("", summary="List members")
async def list_members(
    platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[MemberPublic]:
    return await platform.members.list(who, page.cursor, page.limit)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a member (a new user needs a password)",
    responses=problems.responses(409),
)
async def add_member(body: MemberCreate, platform: PlatformDep, who: PrincipalDep) -> MemberPublic:
    return await platform.members.add(who, body)


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
    summary="Remove a member",
    responses=problems.responses(404, 409),
)
async def remove_member(member_id: str, platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.members.remove(who, member_id)
