"""Agents and their versions; the hot reads of a live agent as prebuilt Core statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    select,
)
from sqlalchemy.engine import Row as ResultRow
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from voxplane.store.models import (
    Agent,
    AgentVersion,
)
from voxplane.store.repositories.paging import (
    Page,
    page_by_id,
)


class AgentRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _live(self, tenant_id: str) -> ColumnElement[bool]:
        return and_(Agent.tenant_id == tenant_id, Agent.deleted_at.is_(None))

    async def get(self, tenant_id: str, agent_id: str, *, lock: bool = False) -> Agent | None:
        query = select(Agent).where(self._live(tenant_id), Agent.id == agent_id)
        return await self.session.scalar(query.with_for_update() if lock else query)

    async def page(
        self, tenant_id: str, cursor: str | None, limit: int, name: str | None = None
    ) -> Page[Agent]:
        query = select(Agent).where(self._live(tenant_id))
        if name is not None:
            query = query.where(Agent.name == name)
        return await page_by_id(self.session, query, Agent.id, cursor, limit)

    async def version(self, tenant_id: str, agent_id: str, version: int) -> AgentVersion | None:
        return await self.session.scalar(
            select(AgentVersion).where(
                AgentVersion.tenant_id == tenant_id,
                AgentVersion.agent_id == agent_id,
                AgentVersion.version == version,
            )
        )

    async def versions(
        self, tenant_id: str, agent_id: str, cursor: str | None, limit: int
    ) -> Page[AgentVersion]:
        query = select(AgentVersion).where(
            AgentVersion.tenant_id == tenant_id, AgentVersion.agent_id == agent_id
        )
        return await page_by_id(self.session, query, AgentVersion.id, cursor, limit)

    def add(self, row: Agent | AgentVersion) -> None:
        self.session.add(row)


_AGENTS, _VERSIONS = Agent.__table__, AgentVersion.__table__
_HEAD = (
    _AGENTS.c.id,
    _AGENTS.c.name,
    _AGENTS.c.version,
    _AGENTS.c.created_at,
    _AGENTS.c.updated_at,
)
_LIVE_AGENT = and_(
    _AGENTS.c.tenant_id == bindparam("tenant_id"),
    _AGENTS.c.id == bindparam("agent_id"),
    _AGENTS.c.deleted_at.is_(None),
)
_AGENT_HEAD = select(*_HEAD).where(_LIVE_AGENT)
_CURRENT_AGENT = (
    select(*_HEAD, _VERSIONS.c.document)
    .join(
        _VERSIONS,
        and_(_VERSIONS.c.agent_id == _AGENTS.c.id, _VERSIONS.c.version == _AGENTS.c.version),
    )
    .where(_LIVE_AGENT, _VERSIONS.c.tenant_id == bindparam("tenant_id"))
)


CurrentAgent = ResultRow[str, str, int, datetime, datetime, dict[str, Any]]
"""(id, name, version, created_at, updated_at, document) of a live agent."""


async def current_agent(
    connection: AsyncConnection, tenant_id: str, agent_id: str
) -> CurrentAgent | None:
    """A live agent with its current document, in one query.

    Core statements built once, like :func:`agent_head`: the API's hottest read pays for
    no ORM identity map and no statement building.
    """
    result = await connection.execute(
        _CURRENT_AGENT, {"tenant_id": tenant_id, "agent_id": agent_id}
    )
    return result.first()


async def agent_head(
    connection: AsyncConnection, tenant_id: str, agent_id: str
) -> ResultRow[str, str, int, datetime, datetime] | None:
    """A live agent without its document, for readers that have that version's already."""
    result = await connection.execute(_AGENT_HEAD, {"tenant_id": tenant_id, "agent_id": agent_id})
    return result.first()
