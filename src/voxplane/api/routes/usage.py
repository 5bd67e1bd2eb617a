"""``/v1/usage``: per-day totals, and a CSV export for billing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from voxplane.api import problems
from voxplane.api.deps import PlatformDep, PrincipalDep
from voxplane.services.schemas import IsoDate, UsageDayPublic

router = APIRouter(prefix="/usage", tags=["usage"], responses=problems.AUTHENTICATED)
From = Annotated[
    IsoDate | None, Query(alias="from", description="First day (UTC); default 30 days ago")
]
To = Annotated[
    IsoDate | None, Query(alias="to", description="Last day (UTC), inclusive; default today")
]


def window(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    end = end or today
    # Clamped so that a day near 0001-01-01 gives a short range, not an OverflowError.
    return start or max(end, date.min + timedelta(days=30)) - timedelta(days=30), end


@router.get("", summary="Usage per day")
async def usage_days(
    platform: PlatformDep, who: PrincipalDep, start: From = None, end: To = None
) -> list[UsageDayPublic]:
    return await platform.usage.days(who, *window(start, end))


@router.get(
    "/export.csv",
    summary="Usage per day as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def usage_csv(
    platform: PlatformDep, who: PrincipalDep, start: From = None, end: To = None
) -> Response:
    first, last = window(start, end)
    text = await platform.usage.csv(who, first, last)
    disposition = f'attachment; filename="usage-{first}-{last}.csv"'
    return Response(text, media_type="text/csv", headers={"Content-Disposition": disposition})
