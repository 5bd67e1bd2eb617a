"""``/v1/calls``: call records with transcripts and per-turn latency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import (
    CallCreate,
    CallPublic,
    CallSummary,
    Direction,
    EndReason,
    PageOf,
    UtcDatetime,
)
from voxplane.store.repositories import CallFilter

router = APIRouter(prefix="/calls", tags=["calls"], responses=problems.AUTHENTICATED)


@router.get("", summary="List calls, newest first")
async def list_calls(
    platform: PlatformDep,
    who: PrincipalDep,
    page: PageDep,
    *,
    agent_id: Annotated[str | None, Query(max_length=40)] = None,
    direction: Direction | None = None,
    end_reason: EndReason | None = None,
    started_after: UtcDatetime | None = None,
    started_before: UtcDatetime | None = None,
) -> PageOf[CallSummary]:
    where = CallFilter(agent_id, direction, end_reason, started_after, started_before)
    return await platform.calls.list(who, page.cursor, page.limit, where)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Record a finished call (runtime)")
async def record_call(body: CallCreate, platform: PlatformDep, who: PrincipalDep) -> CallPublic:
    return await platform.calls.record(who, body)


@router.get(
    "/{call_id}",
    summary="A call with its transcript and per-turn latency",
    responses=problems.responses(404),
)
async def get_call(call_id: str, platform: PlatformDep, who: PrincipalDep) -> CallPublic:
    return await platform.calls.get(who, call_id)
