"""An LLM brain (on a scripted fake LLM) in a whole simulated call: what the caller hears."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from _pipeline_harness import LONG_ANSWER, run_call, say

from voxplane.agents.llm import LlmBrainConfig
from voxplane.providers.base import Usage
from voxplane.providers.llm.brain import LlmBrain
from voxplane.providers.llm.tools import ToolRunner
from voxplane.testing.scripted_llm import ScriptedLLM, Step, call, words
from voxplane.transports.simulated import CallerPolicy

LOOKUP = {
    "type": "http",
    "name": "lookup_order",
    "url": "http://127.0.0.1:9/orders",
    "filler": "One moment, please.",
    "filler_after_ms": 700,
    "timeout_ms": 4000,
}


def llm_brain(
    replies: list[list[Step]], tools: list[dict[str, Any]], delay_s: float = 0.0
) -> LlmBrain:
    cfg = LlmBrainConfig.model_validate(
        {
            "type": "llm",
            "provider": "openai",
            "base_url": "http://127.0.0.1:8000/v1",
            "model": "test",
            "prompt": "You are a shop assistant.",
            "first_message": "Hello, this is the shop.",
            "tools": tools,
        }
    )

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(delay_s)
        return httpx.Response(200, json={"status": "shipped"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return LlmBrain(
        cfg, ScriptedLLM(replies), ToolRunner(cfg.tools, {}, allow_private=True, client=client)
    )


def test_the_caller_hears_the_filler_while_a_slow_tool_runs_then_the_answer() -> None:
    brain = llm_brain(
        [[call("lookup_order")], [*words("Your order has shipped."), call("end_call")]],
        [LOOKUP, {"type": "end_call"}],
        delay_s=2.0,
    )
    c = run_call([say(0, 800)], ["Where is my order?"], brain)
    assert c.texts() == [
        "Hello, this is the shop.",
        "Where is my order?",
        "One moment, please. Your order has shipped.",
    ]
    assert c.result.ended_by == "agent_hangup" and c.caller.hung_up


def test_a_failing_tool_is_an_apology_and_the_call_goes_on() -> None:
    brain = llm_brain([[call("lookup_order")], words("Anything else?")], [LOOKUP], delay_s=9.0)
    patient = CallerPolicy(agent_idle_ms=6000)  # waits through the tool's silence
    c = run_call([say(0, 800)], ["Where is my order?"], brain, policy=patient)
    assert c.texts()[2] == "One moment, please. Sorry, I couldn't get that information right now."
    assert c.result.ended_by == "caller_hangup"


def test_transfer_tool_transfers_the_call() -> None:
    brain = llm_brain(
        [[*words("Putting you through."), call("transfer_call", '{"target": "billing"}')]],
        [{"type": "transfer_call", "targets": {"billing": "+15550100"}}],
    )
    c = run_call([say(0, 800)], ["Billing please."], brain)
    assert c.result.ended_by == "transfer"
    assert c.caller.transferred_to == "+15550100"
    assert c.texts()[-1] == "Putting you through."


def test_after_a_barge_in_the_model_remembers_only_what_was_heard() -> None:
    llm_replies: list[list[Step]] = [words(LONG_ANSWER), words("On Saturdays too.")]
    brain = llm_brain(llm_replies, [])
    c = run_call([say(0, 800), say(1, 1200, barge_in_at_ms=1500)], ["When?", "Which days?"], brain)
    cut = c.agent(1)
    assert cut.interrupted and cut.text != LONG_ANSWER
    llm = brain.llm.inner
    assert isinstance(llm, ScriptedLLM)
    sent = llm.requests[1].messages
    assert [m.role for m in sent[-3:]] == ["user", "assistant", "user"]
    assert sent[-2].content == cut.text and sent[-1].content == "Which days?"


def test_the_calls_result_counts_the_tokens_of_every_model_request() -> None:
    brain = llm_brain(
        [[call("lookup_order"), Usage(120, 7)], [*words("It has shipped."), Usage(150, 5)]],
        [LOOKUP],
    )
    c = run_call([say(0, 800)], ["Where is my order?"], brain)
    assert c.texts()[2] == "It has shipped."
    assert c.result.llm_tokens == 120 + 7 + 150 + 5
