"""Agents: the same document as the YAML files; every change is a new immutable version."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.agents.flow import FlowConfig
from voxplane.agents.llm import HttpTool, LlmBrainConfig
from voxplane.agents.llm_model import LlmModel
from voxplane.agents.loader import field_problems, format_loc, parse_agent
from voxplane.agents.schema import AgentConfig
from voxplane.agents.speech import LOCAL_PROVIDERS, inline_secret_fields, provider_entries
from voxplane.errors import ConfigError, InvalidError, NotFoundError
from voxplane.events import outbox
from voxplane.events.vocabulary import Event, new_event
from voxplane.net.reach import Unreachable, check_answers
from voxplane.net.urlpolicy import parse_url
from voxplane.services.audit import audit
from voxplane.services.principal import Principal
from voxplane.services.schemas import AgentPublic, AgentVersionPublic, PageOf, unstorable
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Agent, AgentVersion
from voxplane.store.repositories import (
    AgentRepo,
    CredentialRepo,
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
    inline = inline_secret_fields(config.stt, config.tts)
    if inline:  # a stored document is shown to every reader of the agent: no keys in it
        raise InvalidError(
            "provider keys are stored as credentials: name one with 'credential'",
            field=f"body.{inline[0]}",
        )
    document = config.model_dump(mode="json", by_alias=True)
    found = unstorable(document)  # a NUL, a lone surrogate, a NaN: valid, but not storable
    if found is not None:
        raise InvalidError(found[1], field=format_loc(("body", *found[0])))
    return document


async def _check_keys(session: AsyncSession, tenant_id: str, config: AgentConfig) -> None:
    """Every cloud provider of the agent has a key among the tenant's credentials: the one
    it names, else one whose ``provider`` is the provider's name (422 naming the field)."""
    repo = CredentialRepo(session)
    for where, provider, access in provider_entries(config.stt, config.tts):
        if provider in LOCAL_PROVIDERS:
            continue
        if access.credential is not None:
            if await repo.by_name(tenant_id, access.credential) is None:
                raise InvalidError(
                    f"no credential named {access.credential!r}: store it first",
                    field=f"body.{where}.credential",
                )
        elif not await repo.of_provider(tenant_id, provider):
            raise InvalidError(
                f"no stored credential of provider {provider!r}: store one, or name one "
                "with 'credential'",
                field=f"body.{where}",
            )


def server_rules(config: AgentConfig, *, allow_private: bool) -> None:
    """What a stored agent must also respect, beyond its schema: keys only by stored
    credential (an agent document is no place for a secret, and the server's environment
    is not the tenant's), and tool and model-server URLs within the SSRF policy."""
    brain = config.brain
    if isinstance(brain, FlowConfig) and brain.llm is not None:
        _model_rules(brain.llm, "body.brain.llm", allow_private=allow_private)
    if not isinstance(brain, LlmBrainConfig):
        return
    _model_rules(brain, "body.brain", allow_private=allow_private)
    for index, model in enumerate(brain.fallback):
        _model_rules(model, f"body.brain.fallback[{index}]", allow_private=allow_private)
    for index, tool in enumerate(brain.tools):
        if not isinstance(tool, HttpTool):
            continue
        where = f"body.brain.tools[{index}]"
        parse_url(tool.url, allow_private=allow_private, field=f"{where}.url")
        if tool.auth is not None and tool.auth.api_key_env is not None:
            raise InvalidError(
                "on the server, name a stored credential with auth.credential instead",
                field=f"{where}.auth.api_key_env",
            )


def _model_rules(model: LlmModel, where: str, *, allow_private: bool) -> None:
    for name in ("api_key", "api_key_env"):
        if getattr(model, name) is not None:
            raise InvalidError(
                f"on the server, name a stored credential with {where[5:]}.credential instead",
                field=f"{where}.{name}",
            )
    if model.base_url is not None:
        parse_url(model.base_url, allow_private=allow_private, field=f"{where}.base_url")


async def check_reachable(config: AgentConfig, *, allow_private: bool) -> None:
    """An LLM's ``base_url`` answers (:func:`~voxplane.net.reach.check_answers`);
    :class:`InvalidError` naming the field otherwise."""
    brain = config.brain
    found: list[tuple[LlmModel, str]] = []
    if isinstance(brain, LlmBrainConfig):
        found = [(brain, "body.brain")]
    if isinstance(brain, FlowConfig) and brain.llm is not None:
        found = [(brain.llm, "body.brain.llm")]
    for model, where in found:
        if model.base_url is None:
            continue
        field = f"{where}.base_url"
        try:
            await check_answers(
                model.base_url, allow_private=allow_private, path="/models", field=field
            )
        except Unreachable as error:
            raise InvalidError(str(error), field=field) from error


DOCUMENTS_CACHED = 1024
"""Serialized agent documents kept in memory (LRU); a version's never changes."""


class AgentService:
    def __init__(self, db: Database, *, allow_private: bool = False) -> None:
        self.db = db
        self.allow_private = allow_private
        self._documents: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()

    async def create(self, who: Principal, config: AgentConfig) -> AgentPublic:
        who.require("agents:write")
        server_rules(config, allow_private=self.allow_private)
        await check_reachable(config, allow_private=self.allow_private)
        async with self.db.unit() as session:
            agent = Agent(id=new_id("agt"), tenant_id=who.tenant_id, name=config.name, version=1)
            version = self._version(who, agent, config)  # refuses what cannot be stored
            await _check_keys(session, who.tenant_id, config)
            repo = AgentRepo(session)
            repo.add(agent)
            await session.flush()
            repo.add(version)
            audit(session, who, "agent.create", "agent", agent.id, name=agent.name, version=1)
            outbox.add(session, _agent_event(agent, "created"))
            return _public(agent, version)

    async def update(self, who: Principal, agent_id: str, config: AgentConfig) -> AgentPublic:
        """Replace the document: a new version, which new calls run from now on."""
        who.require("agents:write")
        server_rules(config, allow_private=self.allow_private)
        await check_reachable(config, allow_private=self.allow_private)
        async with self.db.unit() as session:
            repo = AgentRepo(session)
            agent = await repo.get(who.tenant_id, agent_id, lock=True)
            if agent is None:
                raise NotFoundError("no such agent")
            agent.version += 1
            agent.name = config.name
            agent.updated_at = utcnow()
            version = self._version(who, agent, config)
            await _check_keys(session, who.tenant_id, config)
            repo.add(version)
            audit(session, who, "agent.update", "agent", agent.id, version=agent.version)
            outbox.add(session, _agent_event(agent, "updated"))
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
            outbox.add(session, _agent_event(agent, "deleted"))

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


def _agent_event(agent: Agent, change: str) -> Event:
    return new_event(
        "agent.updated",
        agent.tenant_id,
        agent_id=agent.id,
        name=agent.name,
        version=agent.version,
        change=change,
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
