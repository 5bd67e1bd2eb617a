"""``/v1/audit-events``: the tenant's append-only audit log (owners and admins), and its
export as JSON lines for a SIEM."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.audit import EXPORT_MAX_LINES
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


NDJSON = "application/x-ndjson"
EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One audit event per line, oldest first (the list's event schema)",
        "content": {NDJSON: {"schema": {"type": "string"}}},
        "headers": {
            "X-Next-Cursor": {
                "description": "Pass back as `after` for the events that follow these",
                "schema": {"type": "string"},
            }
        },
    }
}


@router.get(
    "/export",
    summary="Export audit events as JSON lines, oldest first, to follow with a cursor",
    response_class=StreamingResponse,
    responses=EXPORTED,
)
async def export_events(
    platform: PlatformDep,
    who: PrincipalDep,
    after: Annotated[
        str | None, Query(max_length=200, description="`X-Next-Cursor` of the last export")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=EXPORT_MAX_LINES, description="Most events in this response")
    ] = EXPORT_MAX_LINES,
) -> StreamingResponse:
    exported = await platform.audit.export(who, after, limit)
    lines = (event.model_dump_json() + "\n" for event in exported.events)
    headers = {"X-Next-Cursor": exported.next_cursor, "Cache-Control": "no-store"}
    return StreamingResponse(lines, media_type=NDJSON, headers=headers)
