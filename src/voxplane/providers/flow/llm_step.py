"""A flow node handed to the LLM: a free-form exchange until the model says the step is done.

The model sees the step's instructions and this step's exchange only (the flow holds the
rest of the call); it ends the step by calling ``step_done``, or the step ends after its
``max_turns`` caller turns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from voxplane.agents.flow import LlmStep
from voxplane.errors import ProviderError
from voxplane.providers.base import (
    LLM,
    ChatMessage,
    LlmOptions,
    TextChunk,
    TextDelta,
    ToolCall,
    ToolSpec,
)

log = logging.getLogger(__name__)

STEP_DONE = ToolSpec(
    "step_done",
    "Call this once the caller's request for this step is handled, to move on.",
    {"type": "object", "properties": {}},
)
RULES = (
    "You are one step of a phone call. Answer in one or two short spoken sentences. "
    "When this step is complete, call the tool step_done."
)


class LlmStepRun:
    """One visit of an LLM step: its exchange so far, and whether it is over."""

    def __init__(self, llm: LLM, step: LlmStep, options: LlmOptions) -> None:
        self._llm = llm
        self._step = step
        self._options = options
        self.messages: list[ChatMessage] = [
            ChatMessage("system", f"{RULES}\n\n{step.instructions}")
        ]
        self.turns = 0
        self.done = False

    async def respond(self, user_text: str) -> AsyncIterator[TextChunk]:
        self.turns += 1
        self.messages.append(ChatMessage("user", user_text))
        text, calls = "", list[ToolCall]()
        tools = [STEP_DONE] if self._llm.capabilities.tools else []
        try:
            async for event in self._llm.stream(self.messages, tools, self._options):
                if isinstance(event, TextDelta) and event.text:
                    text += event.text
                    yield TextChunk(event.text)
                elif isinstance(event, ToolCall):
                    calls.append(event)
        except ProviderError as error:
            log.warning("the flow's LLM step failed", extra={"error": str(error)})
            self.done = True  # the flow goes on rather than leaving the caller in silence
            return
        finally:
            self.messages.append(ChatMessage("assistant", text, tuple(calls)))
        self.messages.extend(ChatMessage("tool", "ok", tool_call_id=c.id) for c in calls)
        if any(c.name == STEP_DONE.name for c in calls) or self.turns >= self._step.max_turns:
            self.done = True
