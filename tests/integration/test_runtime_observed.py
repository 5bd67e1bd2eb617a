"""What a call through the runtime leaves for the tenant's systems and the operator: a
``tool.called`` event per tool its LLM brain ran, and the active-calls gauge."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import select
from test_runtime import caller, control_plane, inbound, runtime_of, tenant_with_number

from voxplane.agents.llm import LlmBrainConfig
from voxplane.agents.schema import AgentConfig
from voxplane.observability.metrics import REGISTRY
from voxplane.pipeline.records import TurnMetrics, TurnRecord
from voxplane.pipeline.session import CallParts
from voxplane.providers.llm.brain import LlmBrain
from voxplane.providers.llm.tools import ToolRunner
from voxplane.runtime.factory import ProviderFactory
from voxplane.settings import Settings
from voxplane.store.models import OutboxEvent
from voxplane.testing.scripted_llm import ScriptedLLM, call, words


class ToolBrainFactory(ProviderFactory):
    """The scripted agent's parts with an LLM brain whose scripted model ends the call
    with the ``end_call`` tool once the caller has spoken."""

    async def build(self, agent: AgentConfig, tenant_id: str | None = None) -> CallParts:
        parts = await super().build(agent, tenant_id)
        cfg = LlmBrainConfig.model_validate(
            {
                "type": "llm",
                "provider": "openai",
                "base_url": "http://127.0.0.1:8000/v1",
                "model": "test",
                "prompt": "You book cleanings.",
                "first_message": "Hello there.",
                "tools": [{"type": "end_call"}],
            }
        )
        llm = ScriptedLLM([[*words("Booked, goodbye."), call("end_call")]])
        brain = LlmBrain(cfg, llm, ToolRunner(cfg.tools, {}, allow_private=True))
        return dataclasses.replace(parts, brain=brain)


def test_a_tool_the_brain_ran_is_a_tool_called_event_of_the_call(settings: Settings) -> None:
    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform, ToolBrainFactory())
            tenant, number = await tenant_with_number(platform)
            outcome = await runtime.run(
                await runtime.admit(inbound(number)), caller(800, patience_ms=5000)
            )
            assert outcome.recorded and outcome.result.ended_by == "agent_hangup"
            async with platform.db.unit() as session:
                query = select(OutboxEvent.payload).where(
                    OutboxEvent.tenant_id == tenant, OutboxEvent.type == "tool.called"
                )
                (tool,) = [p["data"] for p in (await session.scalars(query)).all()]
            assert tool["name"] == "end_call" and tool["call_id"] == outcome.call_id
            assert tool["ok"] is True and tool["seq"] >= 1

    asyncio.run(main())


def test_the_active_calls_gauge_rises_during_a_call_and_falls_after(settings: Settings) -> None:
    def active(tenant: str) -> float:
        return REGISTRY.get_sample_value("voxplane_active_calls", {"tenant": tenant}) or 0.0

    async def main() -> None:
        async with control_plane(settings) as platform:
            runtime = runtime_of(platform)
            tenant, number = await tenant_with_number(platform)
            before = active(tenant)
            during: list[float] = []

            def observe(record: TurnRecord, metrics: TurnMetrics | None) -> None:
                during.append(active(tenant))

            outcome = await runtime.run(await runtime.admit(inbound(number)), caller(800), observe)
            assert outcome.recorded
            assert during and set(during) == {before + 1}
            assert active(tenant) == before

    asyncio.run(main())
