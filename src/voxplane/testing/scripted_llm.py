"""A scripted fake of an :class:`LLM`, for brain and pipeline unit tests and benchmarks.

Each request answers with the next scripted reply (the last repeats): text deltas, tool
calls, usage, or a :class:`ProviderError` to raise. The requests it got are kept, so a
test can check what the model was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

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
)

Step = LlmEvent | ProviderError | float
"""A reply step: an event to yield, an error to raise, or seconds to wait."""


def words(text: str) -> list[Step]:
    """``text`` as a stream of one delta per word, as a model streams it."""
    parts = text.split(" ")
    return [TextDelta(p if i == len(parts) - 1 else p + " ") for i, p in enumerate(parts)]


def call(name: str, arguments: str = "{}", call_id: str | None = None) -> ToolCall:
    return ToolCall(call_id or f"call_{name}", name, arguments)


@dataclass
class Request:
    messages: list[ChatMessage]
    tools: list[ToolSpec]
    options: LlmOptions


@dataclass
class ScriptedLLM(LLM):
    """Scripted fake: ``replies[i]`` answers request ``i``."""

    replies: Sequence[Sequence[Step]]
    requests: list[Request] = field(default_factory=list)
    name: str = "scripted"
    capabilities: LlmCapabilities = field(default_factory=lambda: LlmCapabilities(tools=True))

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: LlmOptions
    ) -> AsyncIterator[LlmEvent]:
        self.requests.append(Request(list(messages), list(tools), options))
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        for step in reply:
            if isinstance(step, ProviderError):
                raise step
            if isinstance(step, float):
                await asyncio.sleep(step)
                continue
            yield step
