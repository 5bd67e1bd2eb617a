"""Anthropic messages, streamed, through the ``anthropic`` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic
import httpx2

from voxplane.errors import ProviderError
from voxplane.providers.base import (
    LLM,
    ChatMessage,
    LlmCapabilities,
    LlmEvent,
    LlmOptions,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

CALL_CONNECTED = "(the call connected)"
"""The first user message when the agent spoke first: the Messages API starts with one."""
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0


class AnthropicLLM(LLM):
    """Claude models. ``temperature`` is not sent: the SDK's Messages API no longer takes
    it (current models choose their own sampling)."""

    capabilities = LlmCapabilities(tools=True)

    def __init__(
        self, model: str, api_key: str, http_client: httpx2.AsyncClient | None = None
    ) -> None:
        self.model = model
        self.name = f"anthropic:{model}"
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            max_retries=0,
            timeout=anthropic.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            http_client=http_client,
        )

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: LlmOptions
    ) -> AsyncIterator[LlmEvent]:
        system, wire = wire_messages(messages)
        request: dict[str, Any] = {
            "model": self.model,
            "system": system,
            "messages": wire,
            "max_tokens": options.max_tokens,
            "stream": True,
        }
        if tools:
            request["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in tools
            ]
        calls: dict[int, dict[str, str]] = {}
        prompt_tokens = 0
        try:
            stream = await self._client.messages.create(**request)
            async for event in stream:
                match event.type:
                    case "message_start":
                        prompt_tokens = event.message.usage.input_tokens
                    case "content_block_start" if event.content_block.type == "tool_use":
                        block = event.content_block
                        calls[event.index] = {"id": block.id, "name": block.name, "args": ""}
                    case "content_block_delta" if event.delta.type == "text_delta":
                        yield TextDelta(event.delta.text)
                    case "content_block_delta" if event.delta.type == "input_json_delta":
                        calls[event.index]["args"] += event.delta.partial_json
                    case "message_delta":
                        yield Usage(prompt_tokens, event.usage.output_tokens)
        except anthropic.APIStatusError as error:
            retryable = error.status_code in {408, 409, 429} or error.status_code >= 500
            raise ProviderError(
                f"{self.name}: HTTP {error.status_code}", retryable=retryable
            ) from error
        except anthropic.APIError as error:
            raise ProviderError(f"{self.name}: {type(error).__name__}", retryable=True) from error
        for _, call in sorted(calls.items()):
            yield ToolCall(call["id"], call["name"], call["args"] or "{}")

    async def aclose(self) -> None:
        await self._client.close()


def wire_messages(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the messages as the Messages API takes them: tool calls are
    ``tool_use`` blocks of the assistant, tool results ``tool_result`` blocks of a user
    message, and consecutive messages of one role are merged (the API alternates)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        blocks: list[dict[str, Any]] = []
        if message.role == "tool":
            role = "user"
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id,
                    "content": message.content,
                }
            )
        else:
            role = message.role
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            for call in message.tool_calls:
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": _arguments(call.arguments),
                    }
                )
        if not blocks:
            continue
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})
    if wire and wire[0]["role"] == "assistant":  # the greeting: the API starts with the user
        wire.insert(0, {"role": "user", "content": [{"type": "text", "text": CALL_CONNECTED}]})
    return system, wire


def _arguments(text: str) -> object:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
