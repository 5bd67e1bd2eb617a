"""``/v1/sip-trunks``: who may send a tenant's numbers calls, and how calls go out."""

from __future__ import annotations

from fastapi import APIRouter, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import PageOf, SipTrunkCreate, SipTrunkPublic, SipTrunkUpdate

router = APIRouter(prefix="/sip-trunks", tags=["SIP trunks"], responses=problems.AUTHENTICATED)
NOT_FOUND = problems.responses(404)


@router.get("", summary="List SIP trunks (passwords masked)")
async def list_trunks(
    platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[SipTrunkPublic]:
    return await platform.trunks.list(who, page.cursor, page.limit)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a SIP trunk",
    responses=problems.responses(409),
)
async def create_trunk(
    body: SipTrunkCreate, platform: PlatformDep, who: PrincipalDep
) -> SipTrunkPublic:
    return await platform.trunks.create(who, body)


@router.get("/{trunk_id}", summary="Get a SIP trunk (passwords masked)", responses=NOT_FOUND)
async def get_trunk(trunk_id: str, platform: PlatformDep, who: PrincipalDep) -> SipTrunkPublic:
    return await platform.trunks.get(who, trunk_id)


@router.put(
    "/{trunk_id}",
    summary="Replace a SIP trunk",
    responses=problems.responses(404, 409),
)
async def replace_trunk(
    trunk_id: str, body: SipTrunkCreate, platform: PlatformDep, who: PrincipalDep
) -> SipTrunkPublic:
    return await platform.trunks.replace(who, trunk_id, body)


@router.patch(
    "/{trunk_id}",
    summary="Change some fields of a SIP trunk",
    responses=problems.responses(404, 409),
)
async def update_trunk(
    trunk_id: str, body: SipTrunkUpdate, platform: PlatformDep, who: PrincipalDep
) -> SipTrunkPublic:
    return await platform.trunks.update(who, trunk_id, body)


@router.delete(
    "/{trunk_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a SIP trunk",
    responses=NOT_FOUND,
)
async def delete_trunk(trunk_id: str, platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.trunks.delete(who, trunk_id)
