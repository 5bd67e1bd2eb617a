"""``/v1/analytics``: calls per outcome, end reason, agent and day; latency percentiles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from voxplane.api import problems
from voxplane.api.deps import PlatformDep, PrincipalDep
from voxplane.api.routes.usage import From, To, window
from voxplane.services.schemas import AnalyticsPublic

router = APIRouter(prefix="/analytics", tags=["analytics"], responses=problems.AUTHENTICATED)


@router.get("", summary="Call outcomes, end reasons, calls per agent and day, latency")
async def analytics(
    platform: PlatformDep,
    who: PrincipalDep,
    start: From = None,
    end: To = None,
    agent_id: Annotated[str | None, Query(max_length=40)] = None,
) -> AnalyticsPublic:
    """Over the days ``from``..``to`` (UTC, default the last 30 days); the outcome of a call
    is its post-call analysis's (``unknown`` when the agent asks for none)."""
    return await platform.analytics.summary(who, *window(start, end), agent_id=agent_id)
