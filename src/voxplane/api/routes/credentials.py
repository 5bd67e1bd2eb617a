"""``/v1/credentials``: provider secrets, encrypted at rest, only shown masked."""

from __future__ import annotations

from fastapi import APIRouter, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import (
    CredentialCreate,
    CredentialPublic,
    CredentialUpdate,
    PageOf,
)

router = APIRouter(prefix="/credentials", tags=["credentials"], responses=problems.AUTHENTICATED)
NOT_FOUND = problems.responses(404)


@router.get("", summary="List credentials (masked)")
async def list_credentials(
    platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[CredentialPublic]:
    return await platform.credentials.list(who, page.cursor, page.limit)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Store a provider secret",
    responses=problems.responses(409),
)
async def create_credential(
    body: CredentialCreate, platform: PlatformDep, who: PrincipalDep
) -> CredentialPublic:
    return await platform.credentials.create(who, body)


@router.get("/{credential_id}", summary="Get a credential (masked)", responses=NOT_FOUND)
async def get_credential(
    credential_id: str, platform: PlatformDep, who: PrincipalDep
) -> CredentialPublic:
    return await platform.credentials.get(who, credential_id)


@router.put("/{credential_id}", summary="Replace the secret", responses=NOT_FOUND)
async def rotate_credential(
    credential_id: str, body: CredentialUpdate, platform: PlatformDep, who: PrincipalDep
) -> CredentialPublic:
    return await platform.credentials.rotate(who, credential_id, body)


@router.delete(
    "/{credential_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a credential",
    responses=NOT_FOUND,
)
async def delete_credential(credential_id: str, platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.credentials.delete(who, credential_id)
