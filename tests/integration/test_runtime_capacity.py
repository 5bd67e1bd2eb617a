"""A worker above its capacity refuses new calls cleanly instead of letting every call slow
down: the real runtime over a real control plane (SQLite and PostgreSQL), scripted
providers over the simulated caller."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from test_runtime import caller, control_plane, inbound, runtime_of, tenant_with_number

from voxplane.runtime.calls import CallRefused
from voxplane.services.principal import system_principal
from voxplane.settings import Settings
from voxplane.transports.base import CallInfo

CAPACITY = 3


def test_the_call_above_capacity_is_refused_and_recorded_while_the_others_go_on(
    settings: Settings,
) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform, max_calls=CAPACITY)
            tenant, number = await tenant_with_number(platform, max_concurrent_calls=10)
            who = system_principal(tenant)
            admitted = [await runtime.admit(inbound(number, f"CA-{i}")) for i in range(CAPACITY)]
            async with asyncio.TaskGroup() as group:
                calls = [
                    group.create_task(runtime.run(a, caller(800, patience_ms=5000)))
                    for a in admitted
                ]
                await asyncio.sleep(0.2)  # the calls are under way
                assert runtime.active_calls == CAPACITY and runtime.over_capacity()
                with pytest.raises(CallRefused) as refused:
                    await runtime.admit(inbound(number, "CA-extra"))
                assert not any(call.done() for call in calls)
            error = refused.value
            assert (error.reason, error.sip_status, error.retry_after_s) == (
                "over_capacity",
                503,
                5.0,
            )
            assert error.retryable and error.call_id is not None
            record = await platform.calls.get(who, error.call_id)
            assert record.end_reason == "over_capacity" and record.answered_at is None
            assert record.transport_call_id == "CA-extra" and record.turns == []
            for call in calls:  # the calls already running went on to their end
                outcome = call.result()
                assert outcome.recorded and outcome.result.ended_by == "agent_hangup"
                assert [t.text for t in outcome.result.turns][-1] == "Booked."
            assert runtime.active_calls == 0 and await platform.calls.active(tenant) == 0
            page = await platform.calls.list(who, None, 10, end_reason="over_capacity")
            assert [c.id for c in page.items] == [error.call_id]
            await runtime.abandon(await runtime.admit(inbound(number)))  # room again

    asyncio.run(main())


def test_racing_admissions_never_exceed_the_capacity(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform, max_calls=CAPACITY)
            _tenant, number = await tenant_with_number(platform, max_concurrent_calls=20)
            outcomes = await asyncio.gather(
                *(runtime.admit(inbound(number)) for _ in range(CAPACITY + 4)),
                return_exceptions=True,
            )
            admitted = [o for o in outcomes if not isinstance(o, BaseException)]
            refused = [o for o in outcomes if isinstance(o, CallRefused)]
            assert len(admitted) == CAPACITY and len(refused) == 4
            assert {r.reason for r in refused} == {"over_capacity"}
            for admission in admitted:
                await runtime.abandon(admission)
            assert runtime.active_calls == 0

    asyncio.run(main())


def test_a_refused_call_uses_none_of_the_tenants_minutes_or_calls(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform, max_calls=0)
            tenant, number = await tenant_with_number(platform)
            with pytest.raises(CallRefused):
                await runtime.admit(inbound(number))
            today = datetime.now(UTC).date()
            usage = await platform.usage.days(system_principal(tenant), today, today)
            assert sum(day.calls for day in usage) == 0
            page = await platform.calls.list(system_principal(tenant), None, 10)
            assert [c.end_reason for c in page.items] == ["over_capacity"]

    asyncio.run(main())


def test_a_refusal_that_cannot_be_recorded_is_still_a_clean_refusal(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform, max_calls=0)
            _tenant, number = await tenant_with_number(platform)
            odd = CallInfo("CA-odd", "simulated", "inbound", "+1" + "5" * 100, number)
            with pytest.raises(CallRefused) as refused:
                await runtime.admit(odd)  # a caller number longer than a record holds
            assert refused.value.reason == "over_capacity" and refused.value.call_id is None
            assert runtime.active_calls == 0

    asyncio.run(main())
