"""A :class:`Brain` built on an :class:`LLM`: the agent's words come from a chat model.

One caller turn::

    caller text ─► conversation (system prompt + newest turns within the token budget)
      ─► LLM stream ─► text deltas go straight out as TextChunks (the Speaker speaks the
         first sentence as soon as it is complete)
      ─► tool calls ─► run (a filler if slow, an apology on failure) ─► results ─► LLM again

After a barge-in the turn's words are cut to what the caller heard. A turn in which a tool
with side effects ran (a booking, a transfer) cannot be taken back: a caller who had only
paused then gets their whole sentence answered after it, in the same conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from voxplane.agents.llm import HttpTool, LlmBrainConfig
from voxplane.errors import ProviderError
from voxplane.providers.base import (
    LLM,
    Brain,
    BrainCapabilities,
    BrainEvent,
    ChatMessage,
    HangUp,
    LlmOptions,
    SendDtmf,
    SttHint,
    TextChunk,
    TextDelta,
    ToolCall,
    ToolReport,
    Transfer,
    Usage,
)
from voxplane.providers.llm.context import cut_to_heard, window
from voxplane.providers.llm.metered import MeteredLLM
from voxplane.providers.llm.tools import ToolOutcome, ToolRunner, changes_things, specs

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 4
"""Model requests in one caller turn; a model that keeps calling tools is stopped."""
NO_ANSWER = "Sorry, I'm having trouble answering right now."
"""Said when the model fails before saying anything."""


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    length: int
    turn: int


class LlmBrain(Brain):
    """One call's conversation with ``llm``; ``tools`` runs the model's tool calls."""

    capabilities = BrainCapabilities(streaming=True)

    def __init__(
        self,
        config: LlmBrainConfig,
        llm: LLM,
        tools: ToolRunner,
        greeting: str | None = None,
    ) -> None:
        self._config = config
        self._llm = MeteredLLM.of(llm)
        self._tools = tools
        self._specs = specs(config.tools)
        self._options = LlmOptions(config.temperature, config.max_tokens)
        self._system = ChatMessage("system", config.system_prompt())
        self._greeting = greeting if greeting is not None else config.first_message
        self.history: list[ChatMessage] = []
        self._turn = 0
        self._turn_start = 0
        self._irreversible_turn = -1
        """The last turn in which a tool with side effects ran."""

    # --- Brain ----------------------------------------------------------------------------

    async def greet(self) -> AsyncIterator[BrainEvent]:
        if self._greeting:
            self._new_turn()
            self.history.append(ChatMessage("assistant", self._greeting))
            yield TextChunk(self._greeting)

    def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        turn = self._new_turn()
        self.history.append(ChatMessage("user", user_text))
        return self._answer(turn)

    def stt_hint(self) -> SttHint | None:
        return None

    @property
    def llm(self) -> MeteredLLM:
        """The model this brain talks through (post-call analysis asks it too, and is
        metered with the call)."""
        return self._llm

    @property
    def usage(self) -> Usage:
        """Tokens this call's requests used so far."""
        return self._llm.usage

    def llm_tokens(self) -> int:
        return self._llm.tokens

    async def aclose(self) -> None:
        await self._llm.aclose()
        await self._tools.aclose()

    def on_interrupted(self, heard_text: str) -> None:
        start = self._turn_start
        self.history[start:] = cut_to_heard(self.history[start:], heard_text)
        self._turn += 1  # a generator of the cut turn still running changes nothing more

    def checkpoint(self) -> object | None:
        return _Checkpoint(len(self.history), self._turn)

    def rollback(self, checkpoint: object) -> None:
        assert isinstance(checkpoint, _Checkpoint)
        if self._irreversible_turn > checkpoint.turn:
            log.info("turn not taken back: a tool with side effects ran in it")
            return
        del self.history[checkpoint.length :]
        self._turn += 1

    # --- one turn -------------------------------------------------------------------------

    def _new_turn(self) -> int:
        self._turn += 1
        self._turn_start = len(self.history)
        return self._turn

    def _current(self, turn: int) -> bool:
        return turn == self._turn

    async def _answer(self, turn: int) -> AsyncIterator[BrainEvent]:
        said_anything = False
        for _ in range(MAX_TOOL_ROUNDS):
            reply = _Reply(len(self.history))
            self.history.append(ChatMessage("assistant"))
            try:
                async for chunk in self._ask(turn, reply):
                    said_anything = True
                    yield chunk
            except ProviderError as error:
                log.warning("the model failed", extra={"error": str(error), "llm": self._llm.name})
                if not self._current(turn):
                    return
                if not reply.text and not reply.calls:
                    del self.history[reply.index]
                if not said_anything:
                    self.history.append(ChatMessage("assistant", NO_ANSWER))
                    yield TextChunk(NO_ANSWER)
                return
            if not reply.calls or not self._current(turn):
                return
            stop = False
            async for event in self._run_tools(turn, reply.calls, spoke=bool(reply.text)):
                if isinstance(event, _Stop):
                    stop = True
                else:
                    said_anything = said_anything or isinstance(event, TextChunk)
                    yield event
            if stop or not self._current(turn):
                return
        log.warning("the model kept calling tools; turn ended", extra={"llm": self._llm.name})

    async def _ask(self, turn: int, reply: _Reply) -> AsyncIterator[TextChunk]:
        """One model request; the assistant message at ``reply.index`` follows the stream,
        so whatever stops the turn leaves the conversation as far as it got."""
        sent = window(self._system, self.history[: reply.index], self._config.context_tokens)
        async for event in self._llm.stream(sent, self._specs, self._options):
            if not self._current(turn):
                return
            match event:
                case TextDelta(text=delta) if delta:
                    reply.text += delta
                    yield TextChunk(delta)
                case ToolCall():
                    reply.calls.append(event)
            self.history[reply.index] = ChatMessage("assistant", reply.text, tuple(reply.calls))

    async def _run_tools(
        self, turn: int, calls: list[ToolCall], *, spoke: bool
    ) -> AsyncIterator[BrainEvent | _Stop]:
        action: HangUp | Transfer | None = None
        for call in calls:
            tool = self._tools.tool(call.name)
            if tool is not None and changes_things(tool):
                # From the moment the request may leave: whatever its outcome, it may
                # have changed something.
                self._irreversible_turn = turn
            outcome: ToolOutcome | None = None
            started = asyncio.get_running_loop().time()
            if isinstance(tool, HttpTool):
                async for item in self._slow_tool(tool, call, spoke=spoke):
                    if isinstance(item, ToolOutcome):
                        outcome = item
                    else:
                        yield item
            else:
                outcome = await self._tools.run(call)
            assert outcome is not None
            self._report(call.name, outcome, started)
            if not self._current(turn):
                return
            self.history.append(ChatMessage("tool", outcome.result, tool_call_id=call.id))
            match outcome.action:
                case SendDtmf():
                    yield outcome.action
                case HangUp() | Transfer():
                    action = outcome.action
            if outcome.failed:
                assert isinstance(tool, HttpTool)
                self.history.append(ChatMessage("assistant", tool.apology))
                yield TextChunk(f" {tool.apology} ")
                yield _Stop()
                return
        if action is not None:
            yield action
            yield _Stop()

    def _report(self, name: str, outcome: ToolOutcome, started: float) -> None:
        if self.on_tool is not None:
            took = round(1000 * (asyncio.get_running_loop().time() - started))
            self.on_tool(ToolReport(name, not outcome.failed, took))

    async def _slow_tool(
        self, tool: HttpTool, call: ToolCall, *, spoke: bool
    ) -> AsyncIterator[ToolOutcome | TextChunk]:
        """Run an HTTP tool; its filler is said when it is slow, and a timeout fails it.

        Nothing is yielded inside a timeout scope: the consumer runs between our yields,
        and a timeout must never cancel it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + tool.timeout_ms / 1000
        task = asyncio.ensure_future(self._tools.run(call))
        try:
            if tool.filler and tool.filler_after_ms < tool.timeout_ms:
                done, _ = await asyncio.wait([task], timeout=tool.filler_after_ms / 1000)
                if not done:
                    yield TextChunk(f" {tool.filler} " if spoke else f"{tool.filler} ")
            done, _ = await asyncio.wait([task], timeout=max(0.0, deadline - loop.time()))
            if done:
                yield task.result()
            else:
                log.warning("tool timed out", extra={"tool": tool.name})
                yield ToolOutcome("error: the tool did not answer in time", failed=True)
        finally:
            if not task.done():
                task.cancel()


@dataclass(slots=True)
class _Reply:
    """One model request's answer as it streams in."""

    index: int
    """Where its assistant message sits in the history."""
    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Stop:
    """The turn ends after a tool: the call ends or moves, or the tool failed."""
