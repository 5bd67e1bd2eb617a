"""Repositories: queries and staged writes on a session they are given; never a commit.

Every tenant-owned read takes ``tenant_id`` and filters on it in SQL, so a foreign id is
simply not found. Lists are keyset-paginated, newest first, with an opaque cursor.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Executable,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row as ResultRow
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from voxplane.errors import InvalidError
from voxplane.store.ids import has_shape
from voxplane.store.models import (
    Agent,
    AgentVersion,
    ApiKey,
    AuditEvent,
    Base,
    Call,
    Credential,
    Membership,
    PhoneNumber,
    RefreshToken,
    Tenant,
    UsageDay,
    User,
)

Row = TypeVar("Row", bound=Base)


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    items: Sequence[Row]
    next_cursor: str | None


def _encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidError("not a cursor from this API", field="cursor") from error


def _cursor_id(value: str) -> str:
    """``value`` when it is shaped like a row id, as the ids our cursors hold are."""
    prefix = value.partition("_")[0]
    if not (prefix.isalpha() and has_shape(value, prefix)):
        raise InvalidError("not a cursor from this API", field="cursor")
    return value


async def _page_by_id(
    session: AsyncSession, query: Select[Row], id_column: Any, cursor: str | None, limit: int
) -> Page[Row]:
    """Newest first by id (ids are time-ordered); the cursor is the last id returned."""
    if cursor is not None:
        query = query.where(id_column < _cursor_id(_decode_cursor(cursor)))
    rows = (await session.scalars(query.order_by(id_column.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items, _encode_cursor(str(items[-1].id)) if more else None)  # type: ignore[attr-defined]


class TenantRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def by_name(self, name: str) -> Tenant | None:
        return await self.session.scalar(select(Tenant).where(Tenant.name == name))

    async def page(self, cursor: str | None, limit: int) -> Page[Tenant]:
        return await _page_by_id(self.session, select(Tenant), Tenant.id, cursor, limit)

    def add(self, tenant: Tenant) -> None:
        self.session.add(tenant)

    async def all_ids(self) -> list[str]:
        return list((await self.session.scalars(select(Tenant.id))).all())


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def get(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    def add(self, user: User) -> None:
        self.session.add(user)


class MembershipRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_user(self, user_id: str) -> Sequence[Membership]:
        query = select(Membership).where(Membership.user_id == user_id).order_by(Membership.id)
        return (await self.session.scalars(query)).all()

    async def get(self, tenant_id: str, user_id: str) -> Membership | None:
        return await self.session.scalar(
            select(Membership).where(
                Membership.tenant_id == tenant_id, Membership.user_id == user_id
            )
        )

    async def by_id(self, tenant_id: str, membership_id: str) -> Membership | None:
        return await self.session.scalar(
            select(Membership).where(
                Membership.tenant_id == tenant_id, Membership.id == membership_id
            )
        )

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[Membership]:
        query = select(Membership).where(Membership.tenant_id == tenant_id)
        return await _page_by_id(self.session, query, Membership.id, cursor, limit)

    async def count_owners(self, tenant_id: str) -> int:
        query = select(func.count()).where(
            Membership.tenant_id == tenant_id, Membership.role == "owner"
        )
        return int(await self.session.scalar(query) or 0)

    def add(self, membership: Membership) -> None:
        self.session.add(membership)

    async def remove(self, membership: Membership) -> None:
        await self.session.delete(membership)


class RefreshTokenRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_digest(self, digest: str) -> RefreshToken | None:
        query = select(RefreshToken).where(RefreshToken.digest == digest).with_for_update()
        return await self.session.scalar(query)

    def add(self, token: RefreshToken) -> None:
        self.session.add(token)

    async def revoke_session(self, session_id: str, at: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.session_id == session_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def session_revoked(self, session_id: str) -> bool:
        """A login session is over when any of its tokens was revoked (logout, reuse)."""
        query = select(func.count()).where(
            RefreshToken.session_id == session_id, RefreshToken.revoked_at.is_not(None)
        )
        return bool(await self.session.scalar(query))


class ApiKeyRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_digest(self, digest: str) -> ApiKey | None:
        return await self.session.scalar(select(ApiKey).where(ApiKey.digest == digest))

    async def get(self, tenant_id: str, key_id: str) -> ApiKey | None:
        return await self.session.scalar(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id)
        )

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[ApiKey]:
        query = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
        return await _page_by_id(self.session, query, ApiKey.id, cursor, limit)

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    async def touch(self, key_id: str, at: datetime) -> None:
        await self.session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at)
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
        return await _page_by_id(self.session, query, Agent.id, cursor, limit)

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
        return await _page_by_id(self.session, query, AgentVersion.id, cursor, limit)

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


class PhoneNumberRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, number_id: str) -> PhoneNumber | None:
        return await self.session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.tenant_id == tenant_id, PhoneNumber.id == number_id
            )
        )

    async def by_number(self, number: str) -> PhoneNumber | None:
        """Platform-wide: the route for an inbound call to ``number``."""
        return await self.session.scalar(select(PhoneNumber).where(PhoneNumber.number == number))

    async def page(
        self, tenant_id: str, cursor: str | None, limit: int, agent_id: str | None = None
    ) -> Page[PhoneNumber]:
        query = select(PhoneNumber).where(PhoneNumber.tenant_id == tenant_id)
        if agent_id is not None:
            query = query.where(PhoneNumber.agent_id == agent_id)
        return await _page_by_id(self.session, query, PhoneNumber.id, cursor, limit)

    async def unassign_agent(self, tenant_id: str, agent_id: str) -> None:
        await self.session.execute(
            update(PhoneNumber)
            .where(PhoneNumber.tenant_id == tenant_id, PhoneNumber.agent_id == agent_id)
            .values(agent_id=None)
        )

    def add(self, row: PhoneNumber) -> None:
        self.session.add(row)

    async def remove(self, row: PhoneNumber) -> None:
        await self.session.delete(row)


class CredentialRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, credential_id: str) -> Credential | None:
        return await self.session.scalar(
            select(Credential).where(
                Credential.tenant_id == tenant_id, Credential.id == credential_id
            )
        )

    async def by_name(self, tenant_id: str, name: str) -> Credential | None:
        return await self.session.scalar(
            select(Credential).where(Credential.tenant_id == tenant_id, Credential.name == name)
        )

    async def page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[Credential]:
        query = select(Credential).where(Credential.tenant_id == tenant_id)
        return await _page_by_id(self.session, query, Credential.id, cursor, limit)

    def add(self, row: Credential) -> None:
        self.session.add(row)

    async def remove(self, row: Credential) -> None:
        await self.session.delete(row)


@dataclass(frozen=True, slots=True)
class CallFilter:
    agent_id: str | None = None
    direction: str | None = None
    end_reason: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallTarget:
    """What recording a call needs to know about its agent and tenant, in one query."""

    version: int
    version_exists: bool
    pii_policy: str


class CallRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def target(self, tenant_id: str, agent_id: str, version: int | None) -> CallTarget | None:
        """The live agent's version to record (``version``, or the current one), whether
        that version exists, and the tenant's PII policy; None for no such live agent."""
        wanted = Agent.version if version is None else literal(version)
        query = (
            select(Agent.version, AgentVersion.id, Tenant.pii_policy)
            .join(Tenant, Tenant.id == Agent.tenant_id)
            .outerjoin(
                AgentVersion,
                and_(AgentVersion.agent_id == Agent.id, AgentVersion.version == wanted),
            )
            .where(Agent.tenant_id == tenant_id, Agent.id == agent_id, Agent.deleted_at.is_(None))
        )
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        current, version_id, pii_policy = row
        return CallTarget(version or current, version_id is not None, pii_policy)

    async def insert(self, values: dict[str, Any]) -> None:
        """Write a call row straight away (a Core insert: no ORM object to track)."""
        await self.session.execute(insert(Call).values(**values))

    async def get(self, tenant_id: str, call_id: str) -> Call | None:
        return await self.session.scalar(
            select(Call).where(Call.tenant_id == tenant_id, Call.id == call_id)
        )

    async def page(
        self, tenant_id: str, cursor: str | None, limit: int, where: CallFilter
    ) -> Page[Call]:
        """Newest first by start time; the cursor holds the last (started_at, id)."""
        query = select(Call).where(Call.tenant_id == tenant_id)
        for column, value in (
            (Call.agent_id, where.agent_id),
            (Call.direction, where.direction),
            (Call.end_reason, where.end_reason),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.started_after is not None:
            query = query.where(Call.started_at >= where.started_after)
        if where.started_before is not None:
            query = query.where(Call.started_at < where.started_before)
        if cursor is not None:
            started, call_id = _split_call_cursor(_decode_cursor(cursor))
            query = query.where(
                or_(Call.started_at < started, and_(Call.started_at == started, Call.id < call_id))
            )
        order = (Call.started_at.desc(), Call.id.desc())
        rows = (await self.session.scalars(query.order_by(*order).limit(limit + 1))).all()
        items = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = _encode_cursor(f"{last.started_at.isoformat()}|{last.id}")
        return Page(items, next_cursor)

    def add(self, row: Call) -> None:
        self.session.add(row)

    async def purge_before(self, tenant_id: str, before: datetime) -> int:
        result = await self.session.execute(
            delete(Call).where(Call.tenant_id == tenant_id, Call.started_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _split_call_cursor(value: str) -> tuple[datetime, str]:
    started, _, call_id = value.partition("|")
    try:
        at = datetime.fromisoformat(started)
    except ValueError as error:
        raise InvalidError("not a cursor from this API", field="cursor") from error
    if at.tzinfo is None:  # ours are UTC; a naive one would fail deep in the query
        raise InvalidError("not a cursor from this API", field="cursor")
    return at, _cursor_id(call_id)


USAGE_FIELDS = ("calls", "call_seconds", "audio_s", "stt_s", "tts_chars", "llm_tokens")


@functools.cache
def _usage_upsert(dialect: str, names: tuple[str, ...]) -> Executable:
    """The upsert behind :meth:`UsageRepo.add`, built once per dialect and set of fields
    (values come as parameters): building it, ``excluded`` alias and all, costs more than
    running it."""
    table = cast(Table, UsageDay.__table__)  # Core, not the ORM's bulk-insert path
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.tenant_id, table.c.day],
        set_={name: table.c[name] + statement.excluded[name] for name in names},
    )


class UsageRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, tenant_id: str, day: date, amounts: dict[str, float | int]) -> None:
        """Add to a day's totals in one statement, safe under concurrent writers."""
        statement = _usage_upsert(self.session.get_bind().dialect.name, tuple(amounts))
        await self.session.execute(statement, {"tenant_id": tenant_id, "day": day, **amounts})

    async def between(self, tenant_id: str, start: date, end: date) -> Sequence[UsageDay]:
        query = (
            select(UsageDay)
            .where(UsageDay.tenant_id == tenant_id, UsageDay.day >= start, UsageDay.day <= end)
            .order_by(UsageDay.day)
        )
        return (await self.session.scalars(query)).all()


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: AuditEvent) -> None:
        self.session.add(event)

    async def page(
        self, tenant_id: str, cursor: str | None, limit: int, action: str | None = None
    ) -> Page[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return await _page_by_id(self.session, query, AuditEvent.id, cursor, limit)
