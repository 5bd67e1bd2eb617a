"""Calls: the runtime records each finished call; tenants read them back.

Admission control lives here too: a call holds one of its tenant's concurrent-call slots
as an expiring lease, renewed while it runs, so a crashed worker's calls free their slots
when the lease runs out.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from voxplane.errors import InvalidError, LimitError, NotFoundError
from voxplane.observability.logs import redact_text
from voxplane.services.audit import audit
from voxplane.services.principal import Principal
from voxplane.services.schemas import CallCreate, CallPublic, CallSummary, CallUsage, PageOf
from voxplane.sessions import Lease, LeaseStore
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Call
from voxplane.store.repositories import CallFilter, CallRepo, TenantRepo, UsageRepo
from voxplane.store.types import utcnow


def mask_number(number: str | None) -> str | None:
    """A caller's number as logs show it: the last two digits and at most four leading
    ones (``+1415•••••99``); one masking rule for logs and call records."""
    return None if number is None else redact_text(number)


class CallService:
    def __init__(self, db: Database, leases: LeaseStore, *, lease_ttl_s: float) -> None:
        self.db = db
        self.leases = leases
        self.lease_ttl_s = lease_ttl_s

    async def record(self, who: Principal, body: CallCreate) -> CallPublic:
        who.require("calls:write")
        if body.ended_at < body.started_at:
            raise InvalidError("a call cannot end before it starts", field="ended_at")
        async with self.db.unit() as session:
            calls = CallRepo(session)
            target = await calls.target(who.tenant_id, body.agent_id, body.agent_version)
            if target is None:
                raise InvalidError("no such agent", field="agent_id")
            if not target.version_exists:
                raise InvalidError("no such version of the agent", field="agent_version")
            redact = target.pii_policy == "redact"
            duration = (body.ended_at - body.started_at).total_seconds()
            values: dict[str, Any] = {
                "id": new_id("cal"),
                "tenant_id": who.tenant_id,
                "agent_id": body.agent_id,
                "agent_version": target.version,
                "direction": body.direction,
                "transport": body.transport,
                "from_number": mask_number(body.from_number) if redact else body.from_number,
                "to_number": body.to_number,
                "started_at": body.started_at,
                "ended_at": body.ended_at,
                "duration_s": duration,
                "end_reason": body.end_reason,
                **body.usage.model_dump(),
                "turns": [t.model_dump() for t in body.turns],
                "metrics": [m.model_dump() for m in body.metrics],
                "created_at": utcnow(),
            }
            await calls.insert(values)
            await UsageRepo(session).add(
                who.tenant_id,
                body.started_at.date(),
                {"calls": 1, "call_seconds": duration, **body.usage.model_dump()},
            )
            audit(session, who, "call.record", "call", values["id"], agent_id=body.agent_id)
        return CallPublic(
            **{name: values[name] for name in CallSummary.model_fields},
            usage=body.usage,
            turns=body.turns,
            metrics=body.metrics,
        )

    async def get(self, who: Principal, call_id: str) -> CallPublic:
        who.require("calls:read")
        async with self.db.unit() as session:
            row = await CallRepo(session).get(who.tenant_id, call_id)
            if row is None:
                raise NotFoundError("no such call")
            return _public(row)

    async def list(
        self, who: Principal, cursor: str | None, limit: int, where: CallFilter
    ) -> PageOf[CallSummary]:
        who.require("calls:read")
        async with self.db.unit() as session:
            page = await CallRepo(session).page(who.tenant_id, cursor, limit, where)
            items = [CallSummary.model_validate(c) for c in page.items]
            return PageOf[CallSummary](items=items, next_cursor=page.next_cursor)

    # --- admission ------------------------------------------------------------------

    async def admit(self, tenant_id: str, holder: str) -> Lease:
        """Take one of the tenant's concurrent-call slots, or :class:`LimitError` when they
        are all taken or the month's call minutes are used up."""
        today = datetime.now(UTC).date()
        async with self.db.unit() as session:
            tenant = await TenantRepo(session).get(tenant_id)
            if tenant is None:
                raise NotFoundError("no such tenant")
            used_s = 0.0
            if tenant.monthly_call_minutes is not None:
                days = await UsageRepo(session).between(tenant_id, today.replace(day=1), today)
                used_s = sum(day.call_seconds for day in days)
        if tenant.monthly_call_minutes is not None and used_s >= 60 * tenant.monthly_call_minutes:
            raise LimitError(
                f"this month's {tenant.monthly_call_minutes} call minutes are used up",
                retry_after_s=_until_next_month(today),
            )
        scope = f"tenant:{tenant_id}:calls"
        lease = await self.leases.acquire(
            scope, tenant.max_concurrent_calls, holder, self.lease_ttl_s
        )
        if lease is None:
            raise LimitError(
                f"all {tenant.max_concurrent_calls} concurrent-call slots are in use",
                retry_after_s=5.0,
            )
        return lease

    async def keep_alive(self, lease: Lease) -> Lease | None:
        return await self.leases.renew(lease, self.lease_ttl_s)

    async def finish(self, lease: Lease) -> None:
        await self.leases.release(lease)

    async def active(self, tenant_id: str) -> int:
        return await self.leases.active(f"tenant:{tenant_id}:calls")

    # --- retention ------------------------------------------------------------------

    async def purge_expired(self, now: datetime) -> int:
        """Delete calls older than each tenant's retention; returns how many went."""
        removed = 0
        async with self.db.unit() as session:
            tenants = TenantRepo(session)
            for tenant_id in await tenants.all_ids():
                tenant = await tenants.get(tenant_id)
                assert tenant is not None
                cutoff = now.timestamp() - tenant.retention_days * 86_400
                removed += await CallRepo(session).purge_before(
                    tenant_id, datetime.fromtimestamp(cutoff, tz=now.tzinfo)
                )
        return removed


def _until_next_month(today: date) -> float:
    first = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (datetime(first.year, first.month, 1, tzinfo=UTC) - datetime.now(UTC)).total_seconds()


def _public(row: Call) -> CallPublic:
    return CallPublic(
        **CallSummary.model_validate(row).model_dump(),
        usage=CallUsage(
            audio_s=row.audio_s, stt_s=row.stt_s, tts_chars=row.tts_chars, llm_tokens=row.llm_tokens
        ),
        turns=row.turns,
        metrics=row.metrics,
    )
