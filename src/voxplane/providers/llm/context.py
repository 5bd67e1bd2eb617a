"""The conversation an LLM brain keeps, and the window of it sent to the model.

The model sees the system prompt and the newest turns that fit ``budget`` tokens; older
turns are dropped whole (a turn starts at a caller message), so a tool call is never sent
without its result. Tokens are estimated at four characters each plus a few per message:
close enough for a budget, and the same for every provider.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from voxplane.providers.base import ChatMessage

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def estimate_tokens(message: ChatMessage) -> int:
    text = message.content + "".join(c.name + c.arguments for c in message.tool_calls)
    return TOKENS_PER_MESSAGE + math.ceil(len(text) / CHARS_PER_TOKEN)


def window(system: ChatMessage, history: Sequence[ChatMessage], budget: int) -> list[ChatMessage]:
    """``system`` and the newest whole turns of ``history`` within ``budget`` tokens; the
    newest turn is always sent, however long."""
    left = budget - estimate_tokens(system)
    start = len(history)
    spent = 0
    for index in range(len(history) - 1, -1, -1):
        spent += estimate_tokens(history[index])
        if history[index].role != "user" and index > 0:
            continue  # a turn starts at a caller message (or the greeting)
        if spent > left and start < len(history):
            break
        start = index
    return [system, *history[start:]]


INTERRUPTED_TOOL = "cancelled: the caller interrupted before it finished (it may have run)"


def cut_to_heard(turn: list[ChatMessage], heard: str) -> list[ChatMessage]:
    """A turn's assistant messages once the caller barged in: the words go to what was
    heard (on the last one), tool calls stay (they ran, or may have); an assistant message
    left with neither is dropped. A tool call still running gets a result saying so: a
    model is never sent a call without its result."""
    last = max((i for i, m in enumerate(turn) if m.role == "assistant"), default=None)
    cut: list[ChatMessage] = []
    for index, message in enumerate(turn):
        if message.role != "assistant":
            cut.append(message)
            continue
        content = heard if index == last else ""
        if content or message.tool_calls:
            cut.append(dataclasses.replace(message, content=content))
    answered = {m.tool_call_id for m in cut if m.role == "tool"}
    for message in turn:
        for call in message.tool_calls:
            if call.id not in answered:
                cut.append(ChatMessage("tool", INTERRUPTED_TOOL, tool_call_id=call.id))
    return cut
