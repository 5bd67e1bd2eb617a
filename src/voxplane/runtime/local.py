"""Run a call with no control plane around it (``voxplane talk``, benchmarks, model tests)."""

from __future__ import annotations

from collections.abc import Callable

from voxplane.agents.schema import AgentConfig
from voxplane.pipeline.records import CallResult, TurnRecord
from voxplane.pipeline.session import CallSession
from voxplane.providers.base import Brain
from voxplane.runtime.factory import (
    LocalModels,
    build_parts,
    fixed_lines,
    llm_brain,
    prepare_lines,
)
from voxplane.transports.base import Transport


async def run_call(
    agent: AgentConfig,
    models: LocalModels | None,
    transport: Transport,
    on_turn: Callable[[TurnRecord], None] | None = None,
    *,
    keys: dict[str, str] | None = None,
    brain: Brain | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> CallResult:
    """Run one call of ``agent`` over ``transport`` to its end, its fixed lines
    synthesized into the phrase cache first; ``keys`` are its cloud providers'
    (:func:`~voxplane.runtime.keys.resolve_keys`). Without ``brain``, an LLM agent's is
    built here: on the caller's own machine, its tools may reach private addresses and its
    server is probed first (unreachable: a ConfigError naming it). ``on_ready`` is told how
    many phrases were synthesized, when the call is about to start."""
    if brain is None:
        brain = await llm_brain(agent, allow_private=True, check_reachable=True)
    parts = build_parts(agent, models, keys=keys, brain=brain)
    made = await prepare_lines(parts.tts, fixed_lines(agent))
    if on_ready is not None:
        on_ready(made)
    session = CallSession(parts, transport, agent.turn, agent.call, on_turn)
    try:
        return await session.run()
    finally:
        try:
            await parts.brain.aclose()
        finally:
            await parts.tts.aclose()
