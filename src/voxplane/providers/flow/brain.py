"""The flow brain: the :class:`Brain` interface over a :class:`FlowEngine`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from voxplane.agents.flow import FlowConfig
from voxplane.providers.base import (
    LLM,
    Brain,
    BrainCapabilities,
    BrainEvent,
    LlmOptions,
    SttHint,
    TextChunk,
)
from voxplane.providers.flow.engine import FlowEngine, FlowReply, FlowState
from voxplane.providers.flow.llm_step import LlmStepRun
from voxplane.providers.llm.metered import MeteredLLM


class FlowBrain(Brain):
    """A scripted conversation flow as a brain: whole replies, no LLM.

    ``first_message`` (the agent's ``call.first_message``) replaces what the start node
    says when the call connects; the flow still sits at the start node, so its gather and
    transitions are active for the caller's first words.
    """

    capabilities = BrainCapabilities(streaming=False)

    def __init__(
        self, config: FlowConfig, first_message: str | None = None, llm: LLM | None = None
    ) -> None:
        """``llm`` is the model of ``config.llm``, for the flow's LLM steps."""
        self._engine = FlowEngine(config)
        self._first_message = first_message
        self._keys = ""  # keys pressed toward the current digits gather
        self._llm = MeteredLLM.of(llm) if llm is not None else None
        model = config.llm
        self._options = LlmOptions(model.temperature, model.max_tokens) if model else None
        self._step: LlmStepRun | None = None

    @property
    def engine(self) -> FlowEngine:
        """The engine behind this brain (slots, current node)."""
        return self._engine

    def gathered(self) -> Mapping[str, str]:
        return self._engine.slots

    def llm_tokens(self) -> int:
        return self._llm.tokens if self._llm is not None else 0

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._llm.aclose()

    async def greet(self) -> AsyncIterator[BrainEvent]:
        for event in _events(self._engine.start(self._first_message)):
            yield event

    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        step = self._engine.llm_step
        if step is not None and self._llm is not None and self._options is not None:
            if self._step is None:
                self._step = LlmStepRun(self._llm, step, self._options)
            run = self._step
            spoke = False
            async for chunk in run.respond(user_text):
                spoke = True
                yield chunk
            if run.done:
                self._step = None
                reply = self._engine.step_done()
                if spoke and reply.text:  # the node after the step follows the model's words
                    reply = FlowReply(f" {reply.text}", reply.action)
                for event in _events(reply):
                    yield event
            return
        if self._keys and (gather := self._engine.gather) and gather.type == "digits":
            user_text = f"{self._keys} {user_text}"  # keys first, then the rest said
        self._keys = ""
        for event in _events(self._engine.handle(user_text)):
            yield event

    def on_dtmf(self, key: str) -> str | None:
        """A digits gather takes keys until ``#`` or its ``max_length``, after any digits
        already said (``*`` starts the keyed part over); elsewhere a key that takes a
        transition ("press 1") is an entry of its own."""
        gather = self._engine.gather
        if gather is None or gather.type != "digits":
            return key if self._engine.takes_key(key) else None
        if key == "*":
            self._keys = ""
            return None
        if key != "#":
            self._keys += key
        entry = self._engine.partial_digits + self._keys
        if key == "#" or (gather.max_length is not None and len(entry) >= gather.max_length):
            self._keys = ""
            return entry or None
        return None

    def stt_hint(self) -> SttHint | None:
        return self._engine.expected()

    def turn_complete(self, user_text: str) -> bool:
        return self._engine.turn_complete(user_text)

    def checkpoint(self) -> FlowState | None:
        # An LLM step's exchange is not taken back: each part is answered on its own.
        return None if self._step is not None else self._engine.snapshot()

    def rollback(self, checkpoint: object) -> None:
        assert isinstance(checkpoint, FlowState)
        self._engine.restore(checkpoint)
        self._step = None


def _events(reply: FlowReply) -> list[BrainEvent]:
    events: list[BrainEvent] = [TextChunk(reply.text)] if reply.text else []
    if reply.action is not None:
        events.append(reply.action)
    return events
