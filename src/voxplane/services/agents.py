"""Agents: the same document as the YAML files; every change is a new immutable version."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import to_json

from voxplane.agents.loader import field_problems, format_loc, parse_agent
from voxplane.agents.schema import AgentConfig
from voxplane.errors import ConfigError, InvalidError, NotFoundError
from voxplane.services.audit import audit
from voxplane.services.principal import Principal
from voxplane.services.schemas import AgentPublic, AgentVersionPublic, PageOf, unstorable
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Agent, AgentVersion
from voxplane.store.repositories import (
    AgentRepo,
    CurrentAgent,
    PhoneNumberRepo,
    agent_head,
    current_agent,
)
from voxplane.store.types import utcnow


def validate_document(document: dict[str, Any]) -> AgentConfig:
    """The agent document checked as the YAML loader checks it; errors name the field."""
    try:
        return AgentConfig.model_validate(document)
    except ValidationError as error:
        loc, message = field_problems(error.errors())[0]
        raise InvalidError(message, field=format_loc(loc) or None) from error


def _dump(config: AgentConfig) -> dict[str, Any]:
    document = config.model_dump(mode="json", by_alias=True)
    found = unstorable(document)  # a NUL, a lone surrogate, a NaN: valid, but not storable
    if found is not None:
        raise InvalidError(found[1], field=format_loc(("body", *found[0])))
    return document


DOCUMENTS_CACHED = 1024
"""Serialized agent documents kept in memory (LRU); a version's never changes."""


class AgentService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._documents: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()

    async def create(self, who: Principal, config: AgentConfig) -> AgentPublic:
        who.require("agents:write")
        async with self.db.unit() as session:
            agent = Agent(id=new_id("agt"), tenant_id=who.tenant_id, name=config.name, version=1)
            version = self._version(who, agent, config)  # refuses what cannot be stored
            repo = AgentRepo(session)
            repo.add(agent)
            await session.flush()
            repo.add(version)
            audit(session, who, "agent.create", "agent", agent.id, name=agent.name, version=1)
            return _public(agent, version)

    async def update(self, who: Principal, agent_id: str, config: AgentConfig) -> AgentPublic:
        """Replace the document: a new version, which new calls run from now on."""
        who.require("agents:write")
        async with self.db.unit() as session:
            repo = AgentRepo(session)
            agent = await repo.get(who.tenant_id, agent_id, lock=True)
            if agent is None:
                raise NotFoundError("no such agent")
            agent.version += 1
            agent.name = config.name
            agent.updated_at = utcnow()
            version = self._version(who, agent, config)
            repo.add(version)
            audit(session, who, "agent.update", "agent", agent.id, version=agent.version)
            return _public(agent, version)

    async def _current(self, who: Principal, agent_id: str) -> CurrentAgent:
        who.require("agents:read")
        row = await self.db.read(lambda c: current_agent(c, who.tenant_id, agent_id))
        if row is None:
            raise NotFoundError("no such agent")
        return row

    async def get_json(self, who: Principal, agent_id: str) -> bytes:
        """The agent at its current version as a response body, byte for byte what FastAPI
        makes of an :class:`AgentPublic`, made cheaply for the API's hottest read: versions are
        immutable, so their documents are kept serialized and a read of an agent whose
        version is in memory is one small query, with no document to decode, validate
        and encode again."""
        who.require("agents:read")
        head = await self.db.read(lambda c: agent_head(c, who.tenant_id, agent_id))
        if head is None:
            raise NotFoundError("no such agent")
        key = (who.tenant_id, head.id, head.version)
        document = self._documents.get(key)
        if document is not None:
            self._documents.move_to_end(key)
            return _agent_json(head, document)
        row = await self._current(who, agent_id)
        document = self._remember((who.tenant_id, row.id, row.version), to_json(row.document))
        return _agent_json(row[:5], document)

    def _remember(self, key: tuple[str, str, int], document: bytes) -> bytes:
        self._documents[key] = document
        if len(self._documents) > DOCUMENTS_CACHED:
            self._documents.popitem(last=False)
        return document

    async def list(
        self, who: Principal, cursor: str | None, limit: int, name: str | None = None
    ) -> PageOf[AgentPublic]:
        who.require("agents:read")
        async with self.db.unit() as session:
            repo = AgentRepo(session)
            page = await repo.page(who.tenant_id, cursor, limit, name)
            items = []
            for agent in page.items:
                version = await repo.version(who.tenant_id, agent.id, agent.version)
                assert version is not None
                items.append(_public(agent, version))
            return PageOf[AgentPublic](items=items, next_cursor=page.next_cursor)

    async def delete(self, who: Principal, agent_id: str) -> None:
        """Retire the agent: its numbers stop routing to it; past calls keep their version."""
        who.require("agents:write")
        async with self.db.unit() as session:
            agent = await AgentRepo(session).get(who.tenant_id, agent_id, lock=True)
            if agent is None:
                raise NotFoundError("no such agent")
            agent.deleted_at = utcnow()
            await PhoneNumberRepo(session).unassign_agent(who.tenant_id, agent.id)
            audit(session, who, "agent.delete", "agent", agent.id, name=agent.name)

    async def version(self, who: Principal, agent_id: str, number: int) -> AgentVersionPublic:
        who.require("agents:read")
        async with self.db.unit() as session:
            row = await AgentRepo(session).version(who.tenant_id, agent_id, number)
            if row is None:
                raise NotFoundError("no such agent version")
            return AgentVersionPublic.model_validate(row)

    async def versions(
        self, who: Principal, agent_id: str, cursor: str | None, limit: int
    ) -> PageOf[AgentVersionPublic]:
        who.require("agents:read")
        async with self.db.unit() as session:
            repo = AgentRepo(session)
            if await repo.get(who.tenant_id, agent_id) is None:
                raise NotFoundError("no such agent")
            page = await repo.versions(who.tenant_id, agent_id, cursor, limit)
            items = [AgentVersionPublic.model_validate(v) for v in page.items]
            return PageOf[AgentVersionPublic](items=items, next_cursor=page.next_cursor)

    async def export_yaml(self, who: Principal, agent_id: str) -> str:
        row = await self._current(who, agent_id)
        return yaml.safe_dump(row.document, sort_keys=False, allow_unicode=True)

    @staticmethod
    def parse_yaml(text: bytes) -> AgentConfig:
        """A YAML upload, checked by the same loader as files; errors name field and line."""
        try:
            return parse_agent(text, source="body")
        except ConfigError as error:
            raise InvalidError(str(error), field="body") from error

    @staticmethod
    def _version(who: Principal, agent: Agent, config: AgentConfig) -> AgentVersion:
        return AgentVersion(
            id=new_id("agv"),
            tenant_id=who.tenant_id,
            agent_id=agent.id,
            version=agent.version,
            document=_dump(config),
            created_by=who.actor_id,
        )


def _agent_json(head: Sequence[Any], document: bytes) -> bytes:
    """``AgentPublic`` as JSON from (id, name, version, created_at, updated_at) and the
    document's JSON: fields in the model's order, serialized by the same pydantic core."""
    fields = to_json(
        dict(zip(("id", "name", "version", "created_at", "updated_at"), head, strict=True))
    )
    return fields[:-1] + b',"document":' + document + b"}"


def _public(agent: Agent, version: AgentVersion) -> AgentPublic:
    return AgentPublic(
        id=agent.id,
        name=agent.name,
        version=agent.version,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
        document=version.document,
    )
