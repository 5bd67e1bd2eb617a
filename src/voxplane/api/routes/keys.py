"""``/v1/api-keys``: secret shown once, stored hashed, revocable."""

from __future__ import annotations

from fastapi import APIRouter, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, PageOf

router = APIRouter(prefix="/api-keys", tags=["api keys"], responses=problems.AUTHENTICATED)
NOT_FOUND = problems.responses(404)


@router.get("", summary="List API keys (never their secrets)")
async def list_keys(
    platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[ApiKeyPublic]:
    return await platform.keys.list(who, page.cursor, page.limit)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create an API key; the secret is shown once"
)
async def create_key(body: ApiKeyCreate, platform: PlatformDep, who: PrincipalDep) -> ApiKeyCreated:
    return await platform.keys.create(who, body)


@router.get("/{key_id}", summary="Get an API key", responses=NOT_FOUND)
async def get_key(key_id: str, platform: PlatformDep, who: PrincipalDep) -> ApiKeyPublic:
    return await platform.keys.get(who, key_id)


@router.delete("/{key_id}", summary="Revoke an API key", responses=NOT_FOUND)
async def revoke_key(key_id: str, platform: PlatformDep, who: PrincipalDep) -> ApiKeyPublic:
    return await platform.keys.revoke(who, key_id)
