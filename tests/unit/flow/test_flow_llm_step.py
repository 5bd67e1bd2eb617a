"""A flow node handed to the LLM (a free-form step), on a scripted fake LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from voxplane.agents.flow import FlowConfig
from voxplane.providers.base import BrainEvent, HangUp, TextChunk
from voxplane.providers.flow.brain import FlowBrain
from voxplane.testing.clock import run_virtual
from voxplane.testing.scripted_llm import ScriptedLLM, Step, call, words


def flow(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "flow",
        "start": "welcome",
        "llm": {"provider": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "m"},
        "nodes": {
            "welcome": {"say": "Welcome to Acme.", "next": "ask"},
            "ask": {
                "say": "What is your question?",
                "llm": {"instructions": "Answer billing questions.", "max_turns": 3},
                "next": "bye",
            },
            "bye": {"say": "Goodbye.", "action": {"type": "hangup"}},
        },
    }
    document.update(changes)
    return document


def brain(replies: list[list[Step]]) -> tuple[FlowBrain, ScriptedLLM]:
    llm = ScriptedLLM(replies)
    return FlowBrain(FlowConfig.model_validate(flow()), None, llm), llm


async def said(events: AsyncIterator[BrainEvent]) -> tuple[str, list[BrainEvent]]:
    got = [e async for e in events]
    return "".join(e.text for e in got if isinstance(e, TextChunk)), got


def test_the_llm_talks_in_its_step_until_it_calls_step_done_then_the_flow_goes_on() -> None:
    fsm, llm = brain(
        [words("Bills go out on the first."), [*words("Glad to help."), call("step_done")]]
    )

    async def main() -> list[tuple[str, list[BrainEvent]]]:
        return [
            await said(fsm.greet()),
            await said(fsm.respond("When do bills go out?")),
            await said(fsm.respond("Thanks, that's all")),
        ]

    greeting, answer, last = run_virtual(main())
    assert greeting[0] == "Welcome to Acme. What is your question?"
    assert answer[0] == "Bills go out on the first."
    assert last[0] == "Glad to help. Goodbye." and last[1][-1] == HangUp()
    second = llm.requests[1]
    assert "Answer billing questions." in second.messages[0].content
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user"]
    assert [t.name for t in second.tools] == ["step_done"]


def test_the_step_ends_after_max_turns_without_step_done() -> None:
    fsm, _ = brain([words("Sure.")])

    async def main() -> str:
        await said(fsm.greet())
        for _ in range(2):
            await said(fsm.respond("More?"))
        return (await said(fsm.respond("More?")))[0]

    assert run_virtual(main()) == "Sure. Goodbye."


def test_llm_steps_need_the_flows_model_and_a_next_node() -> None:
    with pytest.raises(ValidationError, match=r"brain\.nodes\.ask\.llm: an llm step needs"):
        FlowConfig.model_validate(flow(llm=None))
    broken = flow()
    del broken["nodes"]["ask"]["next"]
    with pytest.raises(ValidationError, match="an 'llm' step needs 'next'"):
        FlowConfig.model_validate(broken)
    with pytest.raises(ValidationError, match=r"brain\.llm\.api_key_env: anthropic needs"):
        FlowConfig.model_validate(flow(llm={"provider": "anthropic", "model": "c"}))
