"""OpenAI chat completions, streamed, through the ``openai`` SDK: OpenAI itself or any
OpenAI-compatible server (vLLM, TGI, Ollama, llama.cpp's server) at ``base_url``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx2
import openai

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

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0


class OpenAiLLM(LLM):
    capabilities = LlmCapabilities(tools=True)

    def __init__(
        self,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "none",  # OpenAI-compatible servers often take no key
            base_url=base_url,
            max_retries=0,  # retries and fallback belong to the caller, not the adapter
            timeout=openai.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            http_client=http_client,
        )

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: LlmOptions
    ) -> AsyncIterator[LlmEvent]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [wire_message(m) for m in messages],
            "temperature": options.temperature,
            "max_tokens": options.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = [wire_tool(t) for t in tools]
        calls: dict[int, dict[str, str]] = {}
        try:
            stream = await self._client.chat.completions.create(**request)
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = chunk.usage
                        yield Usage(usage.prompt_tokens, usage.completion_tokens)
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            yield TextDelta(delta.content)
                        for part in delta.tool_calls or ():
                            call = calls.setdefault(part.index, {"id": "", "name": "", "args": ""})
                            call["id"] = part.id or call["id"]
                            if part.function is not None:
                                call["name"] += part.function.name or ""
                                call["args"] += part.function.arguments or ""
        except openai.APIStatusError as error:
            retryable = error.status_code in {408, 409, 429} or error.status_code >= 500
            raise ProviderError(
                f"{self.name}: HTTP {error.status_code}", retryable=retryable
            ) from error
        except openai.APIError as error:  # connection errors, timeouts, bad streams
            raise ProviderError(f"{self.name}: {type(error).__name__}", retryable=True) from error
        for index, call in sorted(calls.items()):
            yield ToolCall(call["id"] or f"call_{index}", call["name"], call["args"] or "{}")

    async def aclose(self) -> None:
        await self._client.close()


def wire_message(message: ChatMessage) -> dict[str, Any]:
    """A message as the chat completions API takes it."""
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        wire["tool_call_id"] = message.tool_call_id
    return wire


def wire_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }
