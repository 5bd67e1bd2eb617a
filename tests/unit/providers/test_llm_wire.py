"""The openai and anthropic adapters parse streamed replies (text, tool calls split over
chunks, usage) and map HTTP errors. The streams are replayed from the providers' API
references (OpenAI "Chat Completions: streaming" chunk objects with tool_calls deltas;
Anthropic "Messages: streaming" event flow with input_json_delta)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from voxplane.errors import ProviderError
from voxplane.providers.base import (
    ChatMessage,
    LlmEvent,
    LlmOptions,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from voxplane.providers.llm.anthropic_chat import AnthropicLLM, wire_messages
from voxplane.providers.llm.openai_chat import OpenAiLLM, wire_message

SPEC = ToolSpec("lookup_order", "Find an order", {"type": "object", "properties": {}})
CONVERSATION = [
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "Where is A7?"),
    ChatMessage("assistant", "", (ToolCall("call_1", "lookup_order", '{"order":"A7"}'),)),
    ChatMessage("tool", '{"status":"shipped"}', tool_call_id="call_1"),
]


def sse(events: list[tuple[str | None, dict[str, Any] | str]]) -> bytes:
    lines = []
    for name, data in events:
        if name:
            lines.append(f"event: {name}")
        lines.append(f"data: {data if isinstance(data, str) else json.dumps(data)}\n")
    return ("\n".join(lines) + "\n").encode()


def server(status: int, body: bytes, seen: list[dict[str, Any]], http: Any = httpx2) -> Any:
    """A client (httpx2, as both SDKs use) whose requests get ``status`` and ``body``."""

    def handler(request: Any) -> Any:
        seen.append(json.loads(request.content))
        kind = "text/event-stream" if status == 200 else "application/json"
        return http.Response(status, content=body, headers={"content-type": kind})

    return http.AsyncClient(transport=http.MockTransport(handler))


async def drain(stream: AsyncIterator[LlmEvent]) -> list[LlmEvent]:
    return [event async for event in stream]


def chunk(delta: dict[str, Any], usage: dict[str, int] | None = None) -> dict[str, Any]:
    choices = [{"index": 0, "delta": delta, "finish_reason": None}] if delta else []
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": choices,
        "usage": usage,
    }


OPENAI_STREAM = sse(
    [
        (None, chunk({"role": "assistant", "content": "Let me "})),
        (None, chunk({"content": "check."})),
        (
            None,
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "lookup_order", "arguments": ""},
                        }
                    ]
                }
            ),
        ),
        (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ord'}}]})),
        (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'er":"A7"}'}}]})),
        (None, chunk({}, {"prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51})),
        (None, "[DONE]"),
    ]
)


def test_openai_stream_gives_text_then_whole_tool_calls_and_usage() -> None:
    seen: list[dict[str, Any]] = []
    llm = OpenAiLLM("gpt-4o-mini", "sk-test", None, server(200, OPENAI_STREAM, seen, httpx2))
    events = asyncio.run(drain(llm.stream(CONVERSATION, [SPEC], LlmOptions(0.2, 50))))
    assert events == [
        TextDelta("Let me "),
        TextDelta("check."),
        Usage(42, 9),
        ToolCall("call_abc", "lookup_order", '{"order":"A7"}'),
    ]
    (request,) = seen
    assert request["stream"] is True and request["max_tokens"] == 50
    assert request["tools"][0]["function"]["name"] == "lookup_order"
    assert request["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert request["messages"][3] == wire_message(CONVERSATION[3])
    assert request["messages"][3]["tool_call_id"] == "call_1"


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (429, True), (500, True)])
def test_openai_http_errors_are_provider_errors(status: int, retryable: bool) -> None:
    body = json.dumps({"error": {"message": "nope", "type": "x"}}).encode()
    llm = OpenAiLLM("gpt-4o-mini", "sk-test", None, server(status, body, [], httpx2))
    with pytest.raises(ProviderError, match=f"HTTP {status}") as error:
        asyncio.run(drain(llm.stream(CONVERSATION, [], LlmOptions())))
    assert error.value.retryable is retryable


ANTHROPIC_STREAM = sse(
    [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-x",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 25, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Checking."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "lookup_order",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"order": '},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '"A7"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 17},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
)


def test_anthropic_stream_gives_text_then_whole_tool_calls_and_usage() -> None:
    seen: list[dict[str, Any]] = []
    llm = AnthropicLLM("claude-x", "sk-ant-test", server(200, ANTHROPIC_STREAM, seen, httpx2))
    events = asyncio.run(drain(llm.stream(CONVERSATION, [SPEC], LlmOptions())))
    assert events == [
        TextDelta("Checking."),
        Usage(25, 17),
        ToolCall("toolu_1", "lookup_order", '{"order": "A7"}'),
    ]
    (request,) = seen
    assert request["system"] == "Be brief."
    assert request["tools"][0]["input_schema"] == SPEC.parameters


def test_anthropic_messages_alternate_with_tool_blocks() -> None:
    system, wire = wire_messages([*CONVERSATION, ChatMessage("user", "Thanks")])
    assert system == "Be brief."
    assert [m["role"] for m in wire] == ["user", "assistant", "user"]
    assert wire[1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "lookup_order", "input": {"order": "A7"}}
    ]
    assert wire[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": '{"status":"shipped"}'},
        {"type": "text", "text": "Thanks"},
    ]


def test_anthropic_conversations_open_with_the_caller_even_after_a_greeting() -> None:
    _, wire = wire_messages(
        [ChatMessage("system", "Be brief."), ChatMessage("assistant", "Hello!"), CONVERSATION[1]]
    )
    assert [m["role"] for m in wire] == ["user", "assistant", "user"]
    assert wire[0]["content"][0]["text"] == "(the call connected)"


def test_anthropic_auth_failure_is_not_retryable() -> None:
    body = json.dumps({"type": "error", "error": {"type": "authentication_error", "message": "x"}})
    llm = AnthropicLLM("claude-x", "bad", server(401, body.encode(), [], httpx2))
    with pytest.raises(ProviderError, match="HTTP 401") as error:
        asyncio.run(drain(llm.stream(CONVERSATION, [], LlmOptions())))
    assert error.value.retryable is False
