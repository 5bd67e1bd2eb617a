"""Read-only queries behind ``/v1/analytics``: calls counted per outcome, end reason,
agent and day, and the per-turn latency of the most recent calls. Tenant-scoped in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.store.models import Call


class CallAnalyticsRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _window(
        tenant_id: str, since: datetime, until: datetime, agent_id: str | None
    ) -> list[ColumnElement[bool]]:
        where = [Call.tenant_id == tenant_id, Call.started_at >= since, Call.started_at < until]
        if agent_id is not None:
            where.append(Call.agent_id == agent_id)
        return where

    async def counts(
        self, tenant_id: str, since: datetime, until: datetime, agent_id: str | None
    ) -> Sequence[tuple[str, str, str, int, float]]:
        """(agent_id, outcome, end_reason, calls, seconds) for calls started in the window."""
        query = (
            select(
                Call.agent_id,
                Call.outcome,
                Call.end_reason,
                func.count(),
                func.coalesce(func.sum(Call.duration_s), 0.0),
            )
            .where(*self._window(tenant_id, since, until, agent_id))
            .group_by(Call.agent_id, Call.outcome, Call.end_reason)
        )
        return (await self.session.execute(query)).all()

    async def starts(
        self, tenant_id: str, since: datetime, until: datetime, agent_id: str | None, limit: int
    ) -> Sequence[tuple[datetime, str, float]]:
        """(started_at, outcome, duration_s) of up to ``limit`` calls, newest first: days are
        cut in the service, in UTC, the same on every database."""
        query = (
            select(Call.started_at, Call.outcome, Call.duration_s)
            .where(*self._window(tenant_id, since, until, agent_id))
            .order_by(Call.started_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(query)).all()

    async def latest_metrics(
        self, tenant_id: str, since: datetime, until: datetime, agent_id: str | None, limit: int
    ) -> Sequence[list[dict[str, Any]]]:
        """The per-turn latency lists of the ``limit`` most recent calls in the window."""
        query = (
            select(Call.metrics)
            .where(*self._window(tenant_id, since, until, agent_id))
            .order_by(Call.started_at.desc())
            .limit(limit)
        )
        return list((await self.session.scalars(query)).all())
