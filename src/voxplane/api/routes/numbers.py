"""``/v1/phone-numbers``: E.164 numbers routed to agents."""

from __future__ import annotations

from fastapi import APIRouter, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import (
    PageOf,
    PhoneNumberCreate,
    PhoneNumberPublic,
    PhoneNumberUpdate,
)

router = APIRouter(
    prefix="/phone-numbers", tags=["phone numbers"], responses=problems.AUTHENTICATED
)
NOT_FOUND = problems.responses(404)


@router.get("", summary="List phone numbers")
async def list_numbers(
    platform: PlatformDep, who: PrincipalDep, page: PageDep, agent_id: str | None = None
) -> PageOf[PhoneNumberPublic]:
    return await platform.numbers.list(who, page.cursor, page.limit, agent_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a number",
    responses=problems.responses(409),
)
async def create_number(
    body: PhoneNumberCreate, platform: PlatformDep, who: PrincipalDep
) -> PhoneNumberPublic:
    return await platform.numbers.create(who, body)


@router.get("/{number_id}", summary="Get a phone number", responses=NOT_FOUND)
async def get_number(number_id: str, platform: PlatformDep, who: PrincipalDep) -> PhoneNumberPublic:
    return await platform.numbers.get(who, number_id)


@router.patch(
    "/{number_id}",
    summary="Route a number to another agent, or relabel it",
    responses=NOT_FOUND,
)
async def update_number(
    number_id: str, body: PhoneNumberUpdate, platform: PlatformDep, who: PrincipalDep
) -> PhoneNumberPublic:
    return await platform.numbers.update(who, number_id, body)


@router.delete(
    "/{number_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release a number",
    responses=NOT_FOUND,
)
async def delete_number(number_id: str, platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.numbers.delete(who, number_id)
