"""``/v1/audit-events``: the tenant's append-only audit log (owners and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import AuditEventPublic, PageOf

router = APIRouter(prefix="/audit-events", tags=["audit"], responses=problems.AUTHENTICATED)


@router.get("", summary="List audit events, newest first")
async def list_events(
    platform: PlatformDep,
    who: PrincipalDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOf[AuditEventPublic]:
    return await platform.audit.list(who, page.cursor, page.limit, action)
