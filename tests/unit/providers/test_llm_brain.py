"""The LLM brain on a scripted fake LLM: streaming, context budget, barge-in, tools."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from voxplane.agents.llm import LlmBrainConfig
from voxplane.errors import ProviderError
from voxplane.providers.base import (
    BrainEvent,
    ChatMessage,
    HangUp,
    SendDtmf,
    TextChunk,
    ToolReport,
    Transfer,
    Usage,
)
from voxplane.providers.llm.brain import NO_ANSWER, LlmBrain
from voxplane.providers.llm.context import estimate_tokens, window
from voxplane.providers.llm.tools import ToolRunner
from voxplane.testing.clock import run_virtual
from voxplane.testing.scripted_llm import ScriptedLLM, Step, call, words

TOOL_URL = "http://127.0.0.1:9/orders"


def config(**extra: Any) -> LlmBrainConfig:
    document: dict[str, Any] = {
        "type": "llm",
        "provider": "openai",
        "base_url": "http://127.0.0.1:8000/v1",
        "model": "test",
        "prompt": "You are the receptionist of {{company}}.",
        "variables": {"company": "Acme Dental"},
        "first_message": "Hello, Acme Dental.",
    }
    return LlmBrainConfig.model_validate(document | extra)


def brain_with(
    replies: list[list[Step]],
    tools: list[dict[str, Any]] | None = None,
    handler: Any = None,
    **extra: Any,
) -> tuple[LlmBrain, ScriptedLLM]:
    cfg = config(tools=tools or [], **extra)
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler)) if handler else None
    runner = ToolRunner(cfg.tools, {}, allow_private=True, client=client)
    llm = ScriptedLLM(replies)
    return LlmBrain(cfg, llm, runner), llm


async def collect(events: AsyncIterator[BrainEvent]) -> list[BrainEvent]:
    return [event async for event in events]


def text_of(events: list[BrainEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextChunk))


def test_text_streams_through_as_it_comes_and_the_prompt_has_its_variables() -> None:
    brain, llm = brain_with([[*words("We open at nine. See you then."), Usage(30, 8)]])

    async def main() -> tuple[list[BrainEvent], list[BrainEvent]]:
        return await collect(brain.greet()), await collect(brain.respond("When do you open?"))

    greeting, answer = run_virtual(main())
    assert text_of(greeting) == "Hello, Acme Dental."
    assert len(answer) == 7 and text_of(answer) == "We open at nine. See you then."
    sent = llm.requests[0].messages
    assert sent[0] == ChatMessage("system", "You are the receptionist of Acme Dental.")
    assert [m.role for m in sent] == ["system", "assistant", "user"]
    assert brain.history[-1] == ChatMessage("assistant", "We open at nine. See you then.")
    assert brain.usage == Usage(30, 8)


def test_every_request_of_the_call_is_metered_analysis_included() -> None:
    """The brain's token count is the sum of every request's usage, and a request made
    later through ``brain.llm`` (the post-call analysis) counts too. A request that
    reports no usage adds nothing."""
    replies: list[list[Step]] = [
        [call("end_call"), Usage(50, 4)],
        [*words('{"summary": "short"}'), Usage(70, 9)],
        [*words('{"summary": "short"}')],  # a provider that reports no usage
    ]
    brain, llm = brain_with(replies, tools=[{"type": "end_call"}])

    async def main() -> int:
        await collect(brain.respond("That's all, thanks."))
        after_turn = brain.llm_tokens()
        for _ in range(2):
            [e async for e in brain.llm.stream([], [], llm.requests[0].options)]
        assert after_turn == 50 + 4  # end_call stops the turn after its request
        return brain.llm_tokens()

    assert run_virtual(main()) == 54 + 79
    assert brain.usage == Usage(120, 13)


def test_a_prompt_variable_without_a_value_is_refused() -> None:
    with pytest.raises(ValueError, match=r"brain\.variables: no value for \{\{city\}\}"):
        config(prompt="You work in {{city}}.")


def test_old_turns_are_dropped_whole_to_fit_the_budget_and_the_system_prompt_stays() -> None:
    system = ChatMessage("system", "x" * 400)  # 104 tokens
    history = []
    for turn in range(10):
        history += [ChatMessage("user", f"question {turn} " + "y" * 80)]  # 27 tokens
        history += [ChatMessage("assistant", "answer " + "z" * 80)]
    sent = window(system, history, budget=300)
    assert sent[0] is system
    assert sent[1].role == "user" and sent[-1] == history[-1]
    assert sum(estimate_tokens(m) for m in sent) <= 300
    assert len(sent) == 1 + 6  # three whole turns fit
    assert window(system, history[-2:], budget=10) == [system, *history[-2:]]  # never empty


def test_barge_in_cuts_the_remembered_answer_to_what_the_caller_heard() -> None:
    brain, llm = brain_with([words("We open at nine. On Saturdays at ten."), words("Sure.")])

    async def main() -> None:
        await collect(brain.respond("When do you open?"))
        brain.on_interrupted("We open at nine.")
        await collect(brain.respond("And Sunday?"))

    run_virtual(main())
    assert llm.requests[1].messages[-2] == ChatMessage("assistant", "We open at nine.")


def test_an_answer_cut_before_any_word_was_heard_leaves_no_assistant_message() -> None:
    brain, llm = brain_with([words("We open at nine."), words("Sure.")])

    async def main() -> None:
        stream = brain.respond("When do you open?")
        await anext(stream)  # the first word is out, then the caller barges in
        await stream.aclose()
        brain.on_interrupted("")
        await collect(brain.respond("Hello?"))

    run_virtual(main())
    assert [m.role for m in llm.requests[1].messages] == ["system", "user", "user"]


def test_a_failing_model_is_an_apology_not_silence() -> None:
    brain, _ = brain_with([[ProviderError("openai:test: HTTP 500", retryable=True)]])
    answer = run_virtual(collect(brain.respond("Hi")))
    assert text_of(answer) == NO_ANSWER


# --- tools ---------------------------------------------------------------------------------

LOOKUP = {
    "type": "http",
    "name": "lookup_order",
    "description": "Find an order",
    "url": TOOL_URL,
    "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    "timeout_ms": 2000,
    "filler": "One moment, please.",
    "filler_after_ms": 500,
}
BOOK = LOOKUP | {"name": "book", "method": "POST", "filler_after_ms": 5000}


def order_server(delay_s: float, status: int = 200) -> Any:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        await asyncio.sleep(delay_s)
        return httpx.Response(status, json={"status": "shipped"})

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def test_the_model_sees_the_tool_result_and_answers_with_it() -> None:
    server = order_server(0.1)
    brain, llm = brain_with(
        [[call("lookup_order", '{"order": "A7"}')], words("It has shipped.")], [LOOKUP], server
    )
    answer = run_virtual(collect(brain.respond("Where is order A7?")))
    assert text_of(answer) == "It has shipped."  # fast: no filler
    (request,) = server.seen
    assert request.method == "GET" and request.url.params["order"] == "A7"
    assert request.headers["host"] == "127.0.0.1:9"
    tool_result = llm.requests[1].messages[-1]
    assert tool_result.role == "tool" and json.loads(tool_result.content) == {"status": "shipped"}
    assert llm.requests[1].messages[-2].tool_calls[0].name == "lookup_order"
    assert [t.name for t in llm.requests[0].tools] == ["lookup_order"]


def test_a_slow_tool_gets_its_filler_spoken_while_it_runs() -> None:
    brain, _ = brain_with(
        [[*words("Let me check."), call("lookup_order")], words("It has shipped.")],
        [LOOKUP],
        order_server(1.2),
    )
    answer = run_virtual(collect(brain.respond("Where is my order?")))
    assert text_of(answer).split() == [
        "Let",
        "me",
        "check.",
        "One",
        "moment,",
        "please.",
        "It",
        "has",
        "shipped.",
    ]


def test_a_tool_that_fails_or_times_out_gets_the_apology_and_the_model_is_told() -> None:
    for server in (order_server(0.0, status=500), order_server(3.0)):
        brain, llm = brain_with([[call("lookup_order")], words("Never said.")], [LOOKUP], server)
        answer = run_virtual(collect(brain.respond("Where is my order?")))
        apology = "Sorry, I couldn't get that information right now."
        assert text_of(answer).strip().endswith(apology)
        assert len(llm.requests) == 1  # the apology ends the turn
        assert brain.history[-2].role == "tool" and brain.history[-2].content.startswith("error")


def test_bad_tool_calls_are_told_to_the_model() -> None:
    brain, llm = brain_with(
        [[call("nope"), call("lookup_order", "{not json", "c2")], words("Sorry.")],
        [LOOKUP],
        order_server(0.0),
    )
    run_virtual(collect(brain.respond("Hi")))
    results = [m.content for m in llm.requests[1].messages if m.role == "tool"]
    assert results == [
        "error: there is no tool named 'nope'",
        "error: the arguments are not valid JSON",
    ]


def test_end_call_hangs_up_after_the_goodbye() -> None:
    brain, llm = brain_with([[*words("Goodbye!"), call("end_call")]], [{"type": "end_call"}])
    answer = run_virtual(collect(brain.respond("That's all, thanks.")))
    assert text_of(answer) == "Goodbye!" and answer[-1] == HangUp("agent_hangup")
    assert len(llm.requests) == 1


def test_transfer_goes_to_the_named_target_and_send_dtmf_presses_keys() -> None:
    tools = [
        {"type": "transfer_call", "targets": {"billing": "+15550100"}},
        {"type": "send_dtmf"},
    ]
    brain, _ = brain_with(
        [
            [call("send_dtmf", '{"keys": "1 2#"}')],
            [*words("Transferring you."), call("transfer_call", '{"target": "billing"}')],
        ],
        tools,
    )
    answer = run_virtual(collect(brain.respond("Billing please.")))
    assert SendDtmf("12#") in answer
    assert answer[-1] == Transfer("+15550100")


def test_an_emergency_number_is_refused_as_a_transfer_target() -> None:
    with pytest.raises(ValueError, match="never transfers to emergency numbers"):
        config(tools=[{"type": "transfer_call", "targets": {"police": "911"}}])
    # Even when a document got past validation, the tool refuses to ask for the transfer.
    cfg = config(tools=[{"type": "transfer_call", "targets": {"desk": "+15550100"}}])
    tool = cfg.tools[0].model_copy(update={"targets": {"desk": "+1 911"}})
    runner = ToolRunner((tool,), {}, allow_private=True)
    brain = LlmBrain(
        cfg,
        ScriptedLLM([[call("transfer_call", '{"target": "desk"}')], words("I can't do that.")]),
        runner,
    )
    answer = run_virtual(collect(brain.respond("Call the police")))
    assert not any(isinstance(e, Transfer) for e in answer)
    assert brain.history[-2].content.startswith("refused")


def test_a_turn_whose_tool_changed_something_is_not_taken_back() -> None:
    tools = [LOOKUP, BOOK]
    for name, taken_back in (("lookup_order", True), ("book", False)):
        brain, _ = brain_with([[call(name)], words("Done.")], tools, order_server(0.0))

        async def main(brain: LlmBrain = brain) -> int:
            before = brain.checkpoint()
            await collect(brain.respond("Book me for Monday"))
            length = len(brain.history)
            assert before is not None
            brain.rollback(before)
            return length - len(brain.history)

        removed = run_virtual(main())
        assert (removed == 4) is taken_back and (removed == 0) is not taken_back


def test_tool_urls_are_held_to_the_ssrf_policy() -> None:
    cfg = config(tools=[LOOKUP | {"url": "http://169.254.169.254/latest"}])
    with pytest.raises(Exception, match=r"link-local") as error:
        ToolRunner(cfg.tools, {}, allow_private=True)
    assert getattr(error.value, "field", None) == "brain.tools[0].url"
    cfg = config(tools=[LOOKUP])
    with pytest.raises(Exception, match=r"loopback"):
        ToolRunner(cfg.tools, {}, allow_private=False)


def test_free_speech_turns_are_judged_on_the_words() -> None:
    brain, _ = brain_with([words("Sure.")])
    assert not brain.turn_complete("I'd like to book a cleaning for")
    assert not brain.turn_complete("My number is four two and")
    assert not brain.turn_complete("Sunday is")
    assert brain.turn_complete("I'd like to book a cleaning for Monday.")


def test_a_barge_in_during_a_booking_leaves_a_valid_conversation_that_is_not_taken_back() -> None:
    brain, llm = brain_with(
        [[*words("Booking it."), call("book", call_id="c1")], words("Done."), words("Sure.")],
        [BOOK],
        order_server(5.0),
    )

    async def main() -> None:
        before = brain.checkpoint()
        assert before is not None
        stream = brain.respond("Book me for Monday")
        assert [await anext(stream), await anext(stream)] == [
            TextChunk("Booking "),
            TextChunk("it."),
        ]
        task = asyncio.ensure_future(anext(stream, None))  # the booking request goes out
        await asyncio.sleep(1.0)  # the caller barges in while the tool runs
        assert brain.history[-1].tool_calls
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stream.aclose()
        brain.on_interrupted("Booking it.")
        brain.rollback(before)  # the caller only paused: but the booking may have happened
        await collect(brain.respond("Book me for Monday at nine"))

    run_virtual(main())
    sent = llm.requests[-1].messages
    assert [m.role for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert sent[4].content == "Book me for Monday at nine"
    assert sent[2] == ChatMessage("assistant", "Booking it.", (call("book", call_id="c1"),))
    assert sent[3].tool_call_id == "c1" and sent[3].content.startswith("cancelled")


def test_the_in_process_provider_takes_no_tools() -> None:
    with pytest.raises(ValueError, match=r"brain\.tools: the llama_cpp provider takes no tools"):
        config(provider="llama_cpp", base_url=None, model="/m.gguf", tools=[{"type": "end_call"}])


def test_each_tool_run_is_reported_with_its_outcome_and_time_but_not_its_arguments() -> None:
    reports: list[ToolReport] = []
    brain, _ = brain_with(
        [[call("lookup_order", '{"order": "A7"}')], words("It has shipped.")],
        [LOOKUP],
        order_server(0.4),
    )
    brain.on_tool = reports.append
    run_virtual(collect(brain.respond("Where is order A7?")))
    failing, _ = brain_with([[call("lookup_order")], words("x")], [LOOKUP], order_server(3.0))
    failing.on_tool = reports.append
    run_virtual(collect(failing.respond("And B2?")))
    assert [(r.name, r.ok) for r in reports] == [("lookup_order", True), ("lookup_order", False)]
    assert 350 <= reports[0].duration_ms <= 450  # the virtual clock: the server's 0.4 s
    assert "A7" not in repr(reports)
