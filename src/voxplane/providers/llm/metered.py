"""Token metering for one call's model: every request the call makes (its answers, a flow's
LLM steps, the post-call analysis) goes through one :class:`MeteredLLM`, so the call's
usage record counts them all, whichever model of a fallback answered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from voxplane.providers.base import LLM, ChatMessage, LlmEvent, LlmOptions, ToolSpec, Usage


class MeteredLLM(LLM):
    """``inner``, counting the :class:`Usage` its streams report (providers report it once
    per request, at the end: a request cut off before then is not counted)."""

    def __init__(self, inner: LLM) -> None:
        self._inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.usage = Usage(0, 0)

    @classmethod
    def of(cls, llm: LLM) -> MeteredLLM:
        """``llm`` metered (itself when it already is)."""
        return llm if isinstance(llm, MeteredLLM) else cls(llm)

    @property
    def inner(self) -> LLM:
        """The model being metered."""
        return self._inner

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens so far."""
        return self.usage.prompt_tokens + self.usage.completion_tokens

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: LlmOptions
    ) -> AsyncIterator[LlmEvent]:
        async for event in self._inner.stream(messages, tools, options):
            if isinstance(event, Usage):
                self.usage = Usage(
                    self.usage.prompt_tokens + event.prompt_tokens,
                    self.usage.completion_tokens + event.completion_tokens,
                )
            yield event

    async def aclose(self) -> None:
        await self._inner.aclose()
