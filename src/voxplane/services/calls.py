"""Calls: the runtime records each finished call; tenants read them back.

Admission control lives here too: a call holds one of its tenant's concurrent-call slots
as an expiring lease, renewed while it runs, so a crashed worker's calls free their slots
when the lease runs out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import InvalidError, LimitError, NotFoundError
from voxplane.events import outbox
from voxplane.events.vocabulary import new_event
from voxplane.observability import metrics
from voxplane.observability.pii import mask_number, redact_pii
from voxplane.services.audit import audit
from voxplane.services.principal import Principal
from voxplane.services.schemas import (
    NOT_CONNECTED,
    CallAnalysis,
    CallCreate,
    CallProgress,
    CallPublic,
    CallSummary,
    CallUsage,
    PageOf,
)
from voxplane.sessions import Lease, LeaseStore
from voxplane.store.db import Database
from voxplane.store.ids import new_id
from voxplane.store.models import Call
from voxplane.store.recordings import Recording, RecordingStore
from voxplane.store.repositories import CallFilter, CallRepo, CallTarget, TenantRepo, UsageRepo
from voxplane.store.types import utcnow

LiveEvent = Literal[
    "call.started",
    "call.answered",
    "transcript.final",
    "turn.completed",
    "dtmf.received",
    "transfer.requested",
    "transfer.completed",
    "transfer.failed",
    "tool.called",
]
LiveBatchItem = tuple[LiveEvent, dict[str, Any]]
"""One event of a call in progress and its data, as the runtime queues it."""


class CallService:
    def __init__(
        self,
        db: Database,
        leases: LeaseStore,
        *,
        lease_ttl_s: float,
        recordings: RecordingStore | None = None,
    ) -> None:
        self.db = db
        self.leases = leases
        self.lease_ttl_s = lease_ttl_s
        self.recordings = recordings

    async def record(
        self,
        who: Principal,
        body: CallCreate,
        *,
        call_id: str | None = None,
        live: Sequence[LiveBatchItem] = (),
    ) -> CallPublic:
        """Store a finished call. ``call_id`` is the id the runtime gave the call when it
        began (its log lines carry it); the API leaves it out and a new one is made.
        ``live`` are events of the call the runtime could not stage while it ran: they are
        staged here, in the same transaction, before ``call.ended``."""
        who.require("calls:write")
        if body.ended_at < body.started_at:
            raise InvalidError("a call cannot end before it starts", field="ended_at")
        if body.answered_at is not None and not body.started_at <= body.answered_at:
            raise InvalidError("a call cannot be answered before it starts", field="answered_at")
        async with self.db.unit() as session:
            calls = CallRepo(session)
            target = await calls.target(who.tenant_id, body.agent_id, body.agent_version)
            if target is None:
                raise InvalidError("no such agent", field="agent_id")
            if not target.version_exists:
                raise InvalidError("no such version of the agent", field="agent_version")
            if target.pii_policy == "redact":
                body = await _redacted(body)
            duration = (body.ended_at - body.started_at).total_seconds()
            billed = 0.0 if body.end_reason in NOT_CONNECTED else duration
            values: dict[str, Any] = {
                "id": call_id or new_id("cal"),
                "tenant_id": who.tenant_id,
                "agent_id": body.agent_id,
                "agent_version": target.version,
                "direction": body.direction,
                "transport": body.transport,
                "from_number": body.from_number,
                "to_number": body.to_number,
                "transport_call_id": body.transport_call_id,
                "started_at": body.started_at,
                "answered_at": body.answered_at,
                "ended_at": body.ended_at,
                "duration_s": duration,
                "end_reason": body.end_reason,
                **body.usage.model_dump(),
                "false_starts": body.false_starts,
                "held_turns": body.held_turns,
                "provider_errors": dict(body.provider_errors),
                "soft_barge_ins": body.soft_barge_ins,
                "resumed_after_backchannel": body.resumed_after_backchannel,
                "turns": [t.model_dump() for t in body.turns],
                "metrics": [m.model_dump() for m in body.metrics],
                "trace_id": body.trace_id,
                "analysis": None if body.analysis is None else body.analysis.model_dump(),
                "outcome": "unknown" if body.analysis is None else body.analysis.outcome,
                "created_at": utcnow(),
            }
            await calls.insert(values)
            if body.end_reason != "over_capacity":  # refused unanswered: not a call used
                await UsageRepo(session).add(
                    who.tenant_id,
                    body.started_at.date(),
                    {"calls": 1, "call_seconds": billed, **body.usage.model_dump()},
                )
            audit(session, who, "call.record", "call", values["id"], agent_id=body.agent_id)
            _stage_live(session, who.tenant_id, body.agent_id, target, live)
            outbox.add(session, new_event("call.ended", who.tenant_id, **_ended(values)))
            if body.analysis is not None:
                analyzed = {"call_id": values["id"], "agent_id": body.agent_id}
                analyzed |= {"outcome": values["outcome"], **values["analysis"]}
                outbox.add(session, new_event("call.analyzed", who.tenant_id, **analyzed))
        metrics.CALLS.labels(body.transport, body.end_reason).inc()
        metrics.observe_turns(values["metrics"])
        return CallPublic(
            **{name: values[name] for name in CallSummary.model_fields},
            usage=body.usage,
            false_starts=body.false_starts,
            held_turns=body.held_turns,
            provider_errors=dict(body.provider_errors),
            soft_barge_ins=body.soft_barge_ins,
            resumed_after_backchannel=body.resumed_after_backchannel,
            turns=body.turns,
            metrics=body.metrics,
            trace_id=body.trace_id,
            analysis=body.analysis,
        )

    async def announce(
        self,
        who: Principal,
        event_type: Literal["call.started", "call.answered"],
        call: CallProgress,
    ) -> None:
        """Stage a call's progress (``call.started`` when the runtime admits it,
        ``call.answered`` when it is answered) for the tenant's webhooks and bus."""
        data = call.model_dump(mode="json")
        await self.stage_live(who, call.agent_id, [(event_type, data)], call.agent_version)

    async def stage_live(
        self,
        who: Principal,
        agent_id: str,
        events: Sequence[LiveBatchItem],
        agent_version: int | None = None,
    ) -> None:
        """Stage events of a call in progress, in order, in one transaction. Caller
        content goes out as the tenant's PII policy would store it: numbers masked, text
        redacted, keypad keys left out under ``redact``."""
        who.require("calls:write")
        async with self.db.unit() as session:
            target = await CallRepo(session).target(who.tenant_id, agent_id, agent_version)
            if target is None:
                raise InvalidError("no such agent", field="agent_id")
            _stage_live(session, who.tenant_id, agent_id, target, events)

    async def get(self, who: Principal, call_id: str) -> CallPublic:
        who.require("calls:read")
        async with self.db.unit() as session:
            row = await CallRepo(session).get(who.tenant_id, call_id)
            if row is None:
                raise NotFoundError("no such call")
            return _public(row)

    async def recording(self, who: Principal, call_id: str) -> Recording:
        """The call's stereo recording (caller left, agent right), or :class:`NotFoundError`
        for another tenant's call, a call without one, or one purged by retention."""
        who.require("calls:read")
        async with self.db.unit() as session:
            if await CallRepo(session).get(who.tenant_id, call_id) is None:
                raise NotFoundError("no such call")
        found = (
            None if self.recordings is None else await self.recordings.open(who.tenant_id, call_id)
        )
        if found is None:
            raise NotFoundError("this call has no recording")
        return found

    async def list(
        self,
        who: Principal,
        cursor: str | None,
        limit: int,
        *,
        agent_id: str | None = None,
        direction: str | None = None,
        end_reason: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        transport: str | None = None,
    ) -> PageOf[CallSummary]:
        """Calls newest first, narrowed by whichever filters are given."""
        who.require("calls:read")
        where = CallFilter(
            agent_id, direction, end_reason, started_after, started_before, transport
        )
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
                kind="call_minutes",
            )
        scope = f"tenant:{tenant_id}:calls"
        lease = await self.leases.acquire(
            scope, tenant.max_concurrent_calls, holder, self.lease_ttl_s
        )
        if lease is None:
            raise LimitError(
                f"all {tenant.max_concurrent_calls} concurrent-call slots are in use",
                retry_after_s=5.0,
                kind="concurrent_calls",
            )
        metrics.ACTIVE_CALLS.labels(tenant_id).inc()
        return lease

    async def keep_alive(self, lease: Lease) -> Lease | None:
        return await self.leases.renew(lease, self.lease_ttl_s)

    async def finish(self, lease: Lease) -> None:
        tenant_id = lease.scope.removeprefix("tenant:").removesuffix(":calls")
        metrics.ACTIVE_CALLS.labels(tenant_id).dec()
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
                before = datetime.fromtimestamp(cutoff, tz=now.tzinfo)
                removed += await CallRepo(session).purge_before(tenant_id, before)
                if self.recordings is not None:
                    await self.recordings.purge_before(tenant_id, before)
        return removed


LARGE_TRANSCRIPT_CHARS = 65_536
"""Longer transcripts are redacted in a thread (~20 ms and up), so that the event loop
keeps serving other requests meanwhile; shorter ones cost less than the thread hop."""


async def _redacted(body: CallCreate) -> CallCreate:
    """The call as a tenant with ``pii_policy: redact`` keeps it: both numbers masked, and
    cards, emails, ids and long numbers in the transcript replaced by placeholders."""
    if sum(len(turn.text) for turn in body.turns) > LARGE_TRANSCRIPT_CHARS:
        return await asyncio.to_thread(_redact, body)
    return _redact(body)


def _redact(body: CallCreate) -> CallCreate:
    turns = [turn.model_copy(update={"text": redact_pii(turn.text)}) for turn in body.turns]
    analysis = body.analysis
    if analysis is not None:
        fields = {k: redact_pii(v) if isinstance(v, str) else v for k, v in analysis.fields.items()}
        summary = None if analysis.summary is None else redact_pii(analysis.summary)
        analysis = analysis.model_copy(update={"fields": fields, "summary": summary})
    return body.model_copy(
        update={
            "from_number": mask_number(body.from_number),
            "to_number": mask_number(body.to_number),
            "turns": turns,
            "analysis": analysis,
        }
    )


def _stage_live(
    session: AsyncSession,
    tenant_id: str,
    agent_id: str,
    target: CallTarget,
    events: Sequence[LiveBatchItem],
) -> None:
    for event_type, given in events:
        data = {**given, "agent_id": agent_id}
        if event_type in ("call.started", "call.answered") and data.get("agent_version") is None:
            data["agent_version"] = target.version
        if target.pii_policy == "redact":
            data = _redacted_live(data)
        outbox.add(session, new_event(event_type, tenant_id, **data))


def _redacted_live(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for name in ("from_number", "to_number"):
        if name in out:
            out[name] = mask_number(out[name])
    if isinstance(out.get("text"), str):
        out["text"] = redact_pii(out["text"])
    if "key" in out:
        out["key"] = None  # keys are how callers enter card numbers and PINs
    return out


def _ended(values: dict[str, Any]) -> dict[str, Any]:
    """The call.ended payload: the record without its transcript and turn metrics."""
    left_out = {"id", "tenant_id", "turns", "metrics", "analysis"}
    summary = {k: v for k, v in values.items() if k not in left_out}
    return {"call_id": values["id"], **summary, "turn_count": len(values["turns"])}


def _until_next_month(today: date) -> float:
    first = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (datetime(first.year, first.month, 1, tzinfo=UTC) - datetime.now(UTC)).total_seconds()


def _public(row: Call) -> CallPublic:
    return CallPublic(
        **CallSummary.model_validate(row).model_dump(),
        usage=CallUsage(
            audio_s=row.audio_s, stt_s=row.stt_s, tts_chars=row.tts_chars, llm_tokens=row.llm_tokens
        ),
        false_starts=row.false_starts,
        held_turns=row.held_turns,
        provider_errors=row.provider_errors,
        soft_barge_ins=row.soft_barge_ins,
        resumed_after_backchannel=row.resumed_after_backchannel,
        turns=row.turns,
        metrics=row.metrics,
        trace_id=row.trace_id,
        analysis=None if row.analysis is None else CallAnalysis.model_validate(row.analysis),
    )
