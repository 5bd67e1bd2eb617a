"""Call records, their filters and the per-day usage they add to."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Executable,
    Integer,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import InvalidError
from voxplane.store.models import (
    Agent,
    AgentVersion,
    Call,
    Tenant,
    UsageDay,
)
from voxplane.store.repositories.paging import (
    Page,
    cursor_id,
    decode_cursor,
    encode_cursor,
)


@dataclass(frozen=True, slots=True)
class CallFilter:
    agent_id: str | None = None
    direction: str | None = None
    end_reason: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    transport: str | None = None


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
        values = {"tenant_id": tenant_id, "agent_id": agent_id, "version": version}
        row = (await self.session.execute(_TARGET, values)).first()
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
            (Call.transport, where.transport),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.started_after is not None:
            query = query.where(Call.started_at >= where.started_after)
        if where.started_before is not None:
            query = query.where(Call.started_at < where.started_before)
        if cursor is not None:
            started, call_id = _split_call_cursor(decode_cursor(cursor))
            query = query.where(
                or_(Call.started_at < started, and_(Call.started_at == started, Call.id < call_id))
            )
        order = (Call.started_at.desc(), Call.id.desc())
        rows = (await self.session.scalars(query.order_by(*order).limit(limit + 1))).all()
        items = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(f"{last.started_at.isoformat()}|{last.id}")
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
    return at, cursor_id(call_id)


_TARGET = (
    select(Agent.version, AgentVersion.id, Tenant.pii_policy)
    .join(Tenant, Tenant.id == Agent.tenant_id)
    .outerjoin(
        AgentVersion,
        and_(
            AgentVersion.agent_id == Agent.id,
            AgentVersion.version
            == func.coalesce(bindparam("version", type_=Integer), Agent.version),
        ),
    )
    .where(
        Agent.tenant_id == bindparam("tenant_id"),
        Agent.id == bindparam("agent_id"),
        Agent.deleted_at.is_(None),
    )
)
"""The query behind :meth:`CallRepo.target`, built once (it runs for every batch of a
call's live events; building it cost about as much as running it)."""


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
