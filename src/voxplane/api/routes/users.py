"""``/v1/users/{user_id}`` (platform admin): disable or enable a user everywhere."""

from __future__ import annotations

from fastapi import APIRouter

from voxplane.api import problems
from voxplane.api.deps import AdminDep, PlatformDep
from voxplane.services.schemas import UserPublic, UserUpdate

router = APIRouter(tags=["tenants"])


@router.patch(
    "/users/{user_id}",
    summary="Disable or enable a user (platform admin): disabling ends their sessions",
    responses=problems.responses(401, 404, 422, 429),
)
async def update_user(
    user_id: str, body: UserUpdate, platform: PlatformDep, _: AdminDep
) -> UserPublic:
    return await platform.users.update(user_id, body)
