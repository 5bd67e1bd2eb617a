"""The call runtime over a real control plane (SQLite and PostgreSQL): routing, admission,
recording, drain. Calls run with scripted providers over the simulated caller."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from voxplane.agents.schema import AgentConfig
from voxplane.errors import UnavailableError
from voxplane.observability.logs import current_context
from voxplane.observability.pii import mask_number
from voxplane.providers.base import BrainEvent, TextChunk, Transfer
from voxplane.providers.scripted import FixedReplyBrain, PresynthesizedTTS
from voxplane.runtime import calls as calls_module
from voxplane.runtime.calls import CallRefused, CallRuntime
from voxplane.runtime.factory import ProviderFactory
from voxplane.runtime.media_streams import StreamTokens
from voxplane.services.platform import Platform, open_platform
from voxplane.services.principal import system_principal
from voxplane.services.schemas import PhoneNumberCreate, TenantCreate, TenantLimits
from voxplane.settings import Settings
from voxplane.store.models import OutboxEvent
from voxplane.testing.fakes import tone
from voxplane.transports.base import CallInfo
from voxplane.transports.simulated import CallerPolicy, CallerTurn, SimulatedCaller

SCRIPTED_AGENT: dict[str, Any] = {
    "name": "scripted",
    "stt": {"provider": "scripted", "transcripts": ["I would like to book a cleaning."]},
    "tts": {"provider": "scripted", "ms_per_word": 60},
    "turn": {"vad": "energy"},
    "brain": {
        "type": "scripted",
        "greeting": "Hello there.",
        "reply": "Booked.",
        "hang_up_after": 1,
    },
}


@asynccontextmanager
async def control_plane(settings: Settings) -> AsyncIterator[Platform]:
    async with open_platform(settings) as platform:
        yield platform


async def tenant_with_number(
    platform: Platform, *, agent: dict[str, Any] | None = None, **limits: Any
) -> tuple[str, str]:
    """A tenant whose new number routes to ``agent`` (default: the scripted agent);
    returns (tenant, number)."""
    name = f"t-{secrets.token_hex(4)}"
    body = TenantCreate(
        name=name, email=f"o@{name}.test", password="a long secret", limits=TenantLimits(**limits)
    )
    tenant = (await platform.tenants.create(body)).tenant_id
    owner = system_principal(tenant)
    document = AgentConfig.model_validate(agent or SCRIPTED_AGENT)
    created = await platform.agents.create(owner, document)
    number = f"+1555{secrets.randbelow(10**7):07d}"
    await platform.numbers.create(owner, PhoneNumberCreate(number=number, agent_id=created.id))
    return tenant, number


def runtime_of(
    platform: Platform,
    factory: ProviderFactory | None = None,
    *,
    grace_s: float = 5.0,
    record: bool = False,
    max_calls: int | None = None,
) -> CallRuntime:
    """The call runtime over ``platform`` (recording calls when ``record``)."""
    return CallRuntime(
        platform.numbers,
        platform.agents,
        platform.calls,
        factory or ProviderFactory(),
        shutdown_grace_s=grace_s,
        recordings=platform.recordings if record else None,
        max_calls=max_calls,
    )


def inbound(to: str, call_id: str | None = None) -> CallInfo:
    return CallInfo(call_id or secrets.token_hex(8), "simulated", "inbound", "+14155550123", to)


def caller(*turn_ms: int, patience_ms: int = 700) -> SimulatedCaller:
    """A caller saying a tone of each length, each once the agent has been quiet for
    ``patience_ms``, and hanging up after as long a quiet at the end. A call that must end
    by the agent's hang-up waits longer, so that a loaded machine's slow hang-up does not
    lose the race to the caller's."""
    return SimulatedCaller(
        [CallerTurn(tone(ms), 16_000) for ms in turn_ms],
        phone=True,
        policy=CallerPolicy(agent_idle_ms=patience_ms),
    )


def test_a_call_announces_started_answered_and_ended_in_order(settings: Settings) -> None:
    """The outbox gets call.started at admission, call.answered when the call runs and
    call.ended with the record, all for the same call id, numbers masked as stored."""

    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)
            admission = await runtime.admit(inbound(number))
            async with platform.db.unit() as session:
                query = select(OutboxEvent.payload).where(OutboxEvent.tenant_id == tenant)
                staged = [p["type"] for p in (await session.scalars(query)).all()]
            assert staged.count("call.started") == 1 and "call.answered" not in staged
            outcome = await runtime.run(admission, caller(800))
            async with platform.db.unit() as session:
                query = (
                    select(OutboxEvent.payload)
                    .where(OutboxEvent.tenant_id == tenant, OutboxEvent.type.like("call.%"))
                    .order_by(OutboxEvent.id)
                )
                events = list((await session.scalars(query)).all())
            lifecycle = [e for e in events if e["type"] in ("call.started", "call.answered")]
            lifecycle += [e for e in events if e["type"] == "call.ended"]
            assert [e["type"] for e in lifecycle] == ["call.started", "call.answered", "call.ended"]
            assert {e["data"]["call_id"] for e in events} == {outcome.call_id}
            started, answered, _ = (e["data"] for e in lifecycle)
            assert started["to_number"] == mask_number(number) != number
            assert started["agent_version"] == 1 and started["transport"] == "simulated"
            assert started["answered_at"] is None and answered["answered_at"] is not None
            assert (started["seq"], answered["seq"]) == (1, 2)  # the call's events number on
            async with platform.db.unit() as session:
                query = select(OutboxEvent.payload).where(OutboxEvent.tenant_id == tenant)
                live = [
                    p["data"]
                    for p in (await session.scalars(query)).all()
                    if p["type"] in ("transcript.final", "turn.completed")
                ]
            live.sort(key=lambda data: data["seq"])
            assert [d["seq"] for d in live] == list(range(3, len(live) + 3))
            said = [(d["role"], d["text"]) for d in live if "role" in d]
            assert said == [
                ("agent", "Hello there."),
                ("user", "I would like to book a cleaning."),
                ("agent", "Booked."),
            ]
            (completed,) = [d for d in live if "turn" in d]
            assert completed["turn"] == 1 and completed["voice_to_voice_ms"] > 0
            assert live.index(completed) == 3  # told with the answer that completes it

    asyncio.run(main())


def test_live_events_the_control_plane_refused_during_the_call_go_with_its_record(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the call runs, staging its live events fails (a database too busy); they are
    not lost: the record's transaction stages them, in order and redacted, before
    call.ended."""

    async def refuse(*args: object, **kwargs: object) -> None:
        raise UnavailableError("database too busy")

    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)
            admission = await runtime.admit(inbound(number))
            monkeypatch.setattr(platform.calls, "stage_live", refuse)
            outcome = await runtime.run(admission, caller(800))
            assert outcome.recorded
            async with platform.db.unit() as session:
                query = (
                    select(OutboxEvent.payload)
                    .where(OutboxEvent.tenant_id == tenant)
                    .order_by(OutboxEvent.id)
                )
                events = list((await session.scalars(query)).all())
            assert [e["type"] for e in events].count("call.ended") == 1
            wanted = ("transcript.final", "turn.completed")
            live = sorted(
                (e["data"] for e in events if e["type"] in wanted), key=lambda d: d["seq"]
            )
            # none lost: after call.started (1) and call.answered (2)
            assert [d["seq"] for d in live] == list(range(3, len(live) + 3))
            said = [d["text"] for d in live if "role" in d]
            assert said == ["Hello there.", "I would like to book a cleaning.", "Booked."]
            assert {d["call_id"] for d in live} == {outcome.call_id}

    asyncio.run(main())


def test_announcements_the_control_plane_refused_are_staged_later_in_order(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control plane refuses every event while the call runs, call.started and
    call.answered included: none is lost, the record's transaction stages them all."""

    async def refuse(*args: object, **kwargs: object) -> None:
        raise UnavailableError("database too busy")

    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)
            monkeypatch.setattr(platform.calls, "stage_live", refuse)
            admission = await runtime.admit(inbound(number))
            outcome = await runtime.run(admission, caller(800))
            assert outcome.recorded
            async with platform.db.unit() as session:
                query = (
                    select(OutboxEvent.payload)
                    .where(OutboxEvent.tenant_id == tenant, ~OutboxEvent.type.like("%.updated"))
                    .order_by(OutboxEvent.id)
                )
                events = list((await session.scalars(query)).all())
            types = [e["type"] for e in events]  # one transaction: one ms, ids not in order
            lifecycle = ("call.started", "call.answered", "call.ended")
            assert [types.count(t) for t in lifecycle] == [1, 1, 1]
            assert set(types) - set(lifecycle) == {"transcript.final", "turn.completed"}
            assert {e["data"]["call_id"] for e in events} == {outcome.call_id}
            by_type = {e["type"]: e["data"] for e in events}
            started, answered = by_type["call.started"], by_type["call.answered"]
            assert started["agent_version"] == answered["agent_version"] == 1
            assert started["to_number"] == mask_number(number) != number
            assert started["answered_at"] is None and answered["answered_at"] is not None
            # the order the ids cannot give: every event of the call but call.ended, by seq
            numbered = sorted(e["data"]["seq"] for e in events if e["type"] != "call.ended")
            assert numbered == list(range(1, len(numbered) + 1))
            assert (started["seq"], answered["seq"]) == (1, 2)

    asyncio.run(main())


def test_refused_announcements_are_staged_by_the_call_writer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the announcements fail; the call's event writer stages them (first in its
    first batch), each once."""

    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)

            async def refuse(*args: object, **kwargs: object) -> None:
                raise UnavailableError("database too busy")

            monkeypatch.setattr(platform.calls, "announce", refuse)
            admission = await runtime.admit(inbound(number))
            outcome = await runtime.run(admission, caller(800))
            assert outcome.recorded
            async with platform.db.unit() as session:
                query = (
                    select(OutboxEvent.payload)
                    .where(OutboxEvent.tenant_id == tenant, ~OutboxEvent.type.like("%.updated"))
                    .order_by(OutboxEvent.id)
                )
                types = [e["type"] for e in (await session.scalars(query)).all()]
            assert types.count("call.started") == types.count("call.answered") == 1
            assert types.count("call.ended") == 1

    asyncio.run(main())


def test_unknown_and_emergency_numbers_are_refused_with_nothing_held(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            for dialled in ("+15559999999", "911", "112", "not a number", ""):
                with pytest.raises(CallRefused) as refused:
                    await runtime.admit(inbound(dialled))
                assert refused.value.reason == "unknown_number"
                assert refused.value.sip_status == 404
            assert runtime.active_calls == 0

    asyncio.run(main())


def test_over_the_concurrent_call_limit_is_busy_and_starts_nothing(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform, max_concurrent_calls=1)
            first = await runtime.admit(inbound(number))
            with pytest.raises(CallRefused) as refused:
                await runtime.admit(inbound(number))
            assert (refused.value.reason, refused.value.sip_status) == ("busy", 486)
            assert await platform.calls.active(tenant) == 1  # only the first call's slot
            await runtime.abandon(first)
            assert await platform.calls.active(tenant) == 0
            assert runtime.active_calls == 0
            await runtime.abandon(await runtime.admit(inbound(number)))  # the slot is free

    asyncio.run(main())


def test_used_up_minutes_are_refused(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            tenant, number = await tenant_with_number(platform, monthly_call_minutes=0)
            with pytest.raises(CallRefused) as refused:
                await runtime_of(platform).admit(inbound(number))
            assert (refused.value.reason, refused.value.sip_status) == ("quota", 403)
            assert await platform.calls.active(tenant) == 0

    asyncio.run(main())


class ContextCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.contexts.append({"msg": record.getMessage(), **current_context()})


@pytest.fixture
def log_contexts() -> Iterator[ContextCapture]:
    capture = ContextCapture()
    logger = logging.getLogger("voxplane")
    logger.addHandler(capture)
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not .level =: it clears isEnabledFor's cache
    yield capture
    logger.removeHandler(capture)
    logger.setLevel(level)


def test_a_call_is_run_and_recorded_with_its_cdr(
    settings: Settings, log_contexts: ContextCapture
) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)
            admission = await runtime.admit(inbound(number, "CA123"))
            transport = caller(800, patience_ms=5000)
            outcome = await runtime.run(admission, transport)
            assert outcome.recorded and transport.closed
            assert await platform.calls.active(tenant) == 0
            call = await platform.calls.get(system_principal(tenant), outcome.call_id)
            assert call.transport == "simulated" and call.transport_call_id == "CA123"
            # the tenant's default PII policy (redact) masks the dialled number too
            assert call.to_number == mask_number(number) != number
            assert call.end_reason == "agent_hangup"
            assert call.answered_at is not None
            assert call.started_at <= call.answered_at <= call.ended_at
            assert [t.text for t in call.turns] == [
                "Hello there.",
                "I would like to book a cleaning.",
                "Booked.",
            ]
            counted = outcome.result  # the counters reach the record as the call kept them
            assert (call.false_starts, call.held_turns) == (
                counted.false_starts,
                counted.held_turns,
            )
            assert call.provider_errors == counted.provider_errors == {}
            assert call.soft_barge_ins == counted.soft_barge_ins
            calls = [c for c in log_contexts.contexts if c["msg"].startswith("call ")]
            assert [c["msg"] for c in calls] == ["call started", "call ended"]
            for line in calls:
                assert (line["call_id"], line["tenant_id"]) == (outcome.call_id, tenant)

    asyncio.run(main())


def test_a_finished_call_releases_its_providers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The brain and the TTS of a call are closed when it ends (a cloud TTS holds the
    call's websocket; an LLM brain its HTTP clients)."""
    closed: list[str] = []

    async def tts_closed(self: object) -> None:
        closed.append("tts")

    async def brain_closed(self: object) -> None:
        closed.append("brain")

    monkeypatch.setattr(PresynthesizedTTS, "aclose", tts_closed)
    monkeypatch.setattr(FixedReplyBrain, "aclose", brain_closed)

    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            _tenant, number = await tenant_with_number(platform)
            admission = await runtime.admit(inbound(number))
            assert closed == []
            await runtime.run(admission, caller(800))

    asyncio.run(main())
    assert sorted(closed) == ["brain", "tts"]


def test_an_outbound_call_never_answered_leaves_a_cdr_and_no_call_minutes(
    settings: Settings,
) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)
            route = await platform.numbers.route(number)
            assert route is not None
            who = system_principal(tenant)
            for reason in ("busy", "no_answer"):
                info = CallInfo(f"out-{reason}", "sip", "outbound", number, "+14155550123")
                admission = await runtime.admit(info, route=route)
                await runtime.abandon(admission, reason)
                await runtime.abandon(admission, reason)  # once only
                call = await platform.calls.get(who, admission.call_id)
                assert (call.end_reason, call.direction, call.transport) == (
                    reason,
                    "outbound",
                    "sip",
                )
                assert call.answered_at is None and call.turns == []
            # the caller left before the answer (no reason): freed, nothing recorded
            silent = await runtime.admit(inbound(number))
            await runtime.abandon(silent)
            page = await platform.calls.list(who, None, 10)
            assert sorted(c.end_reason for c in page.items) == ["busy", "no_answer"]
            assert await platform.calls.active(tenant) == 0 and runtime.active_calls == 0
            today = datetime.now(UTC).date()
            [day] = await platform.usage.days(who, today, today)
            assert (day.calls, day.call_seconds) == (2, 0.0)  # calls, not call minutes

    asyncio.run(main())


class EmergencyBrain(FixedReplyBrain):
    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        yield TextChunk("Connecting you.")
        yield Transfer("+112")


def test_a_transfer_to_an_emergency_number_is_refused_where_it_runs(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)
            admission = await runtime.admit(inbound(number))
            admission.parts.brain = EmergencyBrain("Hello.", "unused")
            transport = caller(800)
            outcome = await runtime.run(admission, transport)
            assert transport.transferred_to is None
            assert outcome.result.ended_by == "caller_hangup"
            call = await platform.calls.get(system_principal(tenant), outcome.call_id)
            assert call.end_reason == "caller_hangup"

    asyncio.run(main())


class TransferBrain(FixedReplyBrain):
    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        yield TextChunk("Putting you through.")
        yield Transfer("+14155550100")


class BridgedLine(SimulatedCaller):
    """A scripted line whose transfer keeps the call up until the line is hung up, as a
    SIP transfer bridged through the worker does."""

    def __init__(self) -> None:
        super().__init__([CallerTurn(tone(800), 16_000)], phone=True)
        self.transferring = asyncio.Event()
        self._down = asyncio.Event()

    async def transfer(self, target: str) -> None:
        self.transferred_to = target
        self.transferring.set()
        await self._down.wait()

    async def hang_up(self) -> None:
        await super().hang_up()
        self._down.set()


def test_drain_hangs_up_a_line_still_up_after_its_agent_left(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calls_module, "SHUTDOWN_END_S", 0.5)

    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform, grace_s=0.5)
            tenant, number = await tenant_with_number(platform)
            admission = await runtime.admit(inbound(number))
            admission.parts.brain = TransferBrain("Hello.", "unused")
            line = BridgedLine()
            running = asyncio.create_task(runtime.run(admission, line))
            async with asyncio.timeout(10):
                await line.transferring.wait()
            await runtime.drain()  # the grace, the session told to end, then the hang-up
            assert line.hung_up and runtime.active_calls == 0
            outcome = await running
            assert outcome.result.ended_by == "transfer" and outcome.recorded
            call = await platform.calls.get(system_principal(tenant), outcome.call_id)
            assert call.end_reason == "transfer"

    asyncio.run(main())


def test_drain_refuses_new_calls_and_ends_long_ones_after_the_grace(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform, grace_s=4.0)
            tenant, number = await tenant_with_number(platform)
            short = await runtime.admit(inbound(number))
            long = await runtime.admit(inbound(number))
            long.parts.brain = FixedReplyBrain(" ".join(["word"] * 200) + ".", "x")
            long_caller = caller()
            async with asyncio.TaskGroup() as group:
                calls = [
                    group.create_task(runtime.run(short, caller(800))),
                    group.create_task(runtime.run(long, long_caller)),
                ]
                await asyncio.sleep(0.3)
                drained = group.create_task(runtime.drain())
                await asyncio.sleep(0)
                with pytest.raises(CallRefused) as refused:
                    await runtime.admit(inbound(number))
                assert (refused.value.reason, refused.value.sip_status) == ("draining", 503)
            assert drained.done() and runtime.active_calls == 0
            short_outcome, long_outcome = (task.result() for task in calls)
            assert short_outcome.result.ended_by == "agent_hangup"  # finished in the grace
            assert long_outcome.result.ended_by == "shutdown" and long_caller.hung_up
            for outcome in (short_outcome, long_outcome):
                call = await platform.calls.get(system_principal(tenant), outcome.call_id)
                assert call.end_reason == outcome.result.ended_by
            assert await platform.calls.active(tenant) == 0

    asyncio.run(main())


def test_stream_tokens_are_single_use_short_lived_and_bound_to_their_call(
    settings: Settings,
) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)
            tokens = StreamTokens(runtime, ttl_s=0.2)
            used = await runtime.admit(inbound(number, "CA-used"))
            token = await tokens.issue(used)
            assert await tokens.redeem(token, "CA-used") is used
            assert await tokens.redeem(token, "CA-used") is None  # single use
            await runtime.abandon(used)

            late = await runtime.admit(inbound(number, "CA-late"))
            token = await tokens.issue(late)
            await asyncio.sleep(0.3)
            assert await tokens.redeem(token, "CA-late") is None  # expired
            assert await platform.calls.active(tenant) == 0  # and its slot was freed

            other = await runtime.admit(inbound(number, "CA-mine"))
            token = await tokens.issue(other)
            assert await tokens.redeem(token, "CA-someone-else") is None
            assert await tokens.redeem(token, "CA-mine") is None  # spent by the attempt
            assert await platform.calls.active(tenant) == 0 and runtime.active_calls == 0

    asyncio.run(main())
