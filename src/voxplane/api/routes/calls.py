"""``/v1/calls``: call records with transcripts and per-turn latency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.api.ranges import RangeNotSatisfiable, parse_range
from voxplane.services.schemas import (
    CallCreate,
    CallPublic,
    CallSummary,
    Direction,
    EndReason,
    OutboundCallCreate,
    OutboundCallPublic,
    PageOf,
    Transport,
    UtcDatetime,
)

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
    transport: Transport | None = None,
) -> PageOf[CallSummary]:
    return await platform.calls.list(
        who,
        page.cursor,
        page.limit,
        agent_id=agent_id,
        direction=direction,
        end_reason=end_reason,
        started_after=started_after,
        started_before=started_before,
        transport=transport,
    )


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


@router.post(
    "/outbound",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Place a call: the agent talks to `to` through a SIP trunk",
    responses=problems.responses(503),
)
async def place_call(
    body: OutboundCallCreate, platform: PlatformDep, who: PrincipalDep
) -> OutboundCallPublic:
    """Returns at once with the call's id; its record appears under that id once it ends."""
    return await platform.outbound.place(who, body)


@router.get(
    "/{call_id}/recording",
    summary="The call's stereo recording (WAV: caller left, agent right); Range requests",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "The whole recording"},
        206: {"content": {"audio/wav": {}}, "description": "The requested byte range"},
        416: {"description": "The range is outside the recording"},
        **problems.responses(404),
    },
)
async def get_recording(
    call_id: str,
    platform: PlatformDep,
    who: PrincipalDep,
    range_: Annotated[str | None, Header(alias="range", max_length=200)] = None,
) -> Response:
    recording = await platform.calls.recording(who, call_id)
    size = recording.size
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    try:
        wanted = parse_range(range_, size)
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{size}"
        return problems.problem(
            416, "Range not satisfiable", f"the recording has {size} bytes", headers=headers
        )
    start, end = wanted or (0, size)
    headers["Content-Length"] = str(end - start)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        recording.read(start, end),
        status_code=206 if wanted is not None else 200,
        media_type=recording.media_type,
        headers=headers,
    )
