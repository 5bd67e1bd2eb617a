"""Fallback across providers of one kind: a :class:`FallbackSTT` is an STT, a
:class:`FallbackTTS` a TTS, a :class:`FallbackLLM` an LLM, and :class:`FallbackRouter` is
the core they are built on.

Providers are tried in order (or, with ``prefer_fastest``, by their recent time to first
result), skipping those whose circuit breaker is open. A provider that raises, or gives no
first result within ``attempt_timeout_s``, counts as failed and the next one is tried at
once. When every breaker is open, all are tried anyway in order: a caller must hear
something. A stream that fails after its first item is not restarted elsewhere (the caller
would hear the same words twice): the error goes up and the pipeline keeps what was played.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.observability import metrics
from voxplane.providers.base import (
    LLM,
    STT,
    TTS,
    ChatMessage,
    LlmCapabilities,
    LlmEvent,
    LlmOptions,
    SttCapabilities,
    SttHint,
    ToolSpec,
    Transcript,
)
from voxplane.providers.breaker import Breaker
from voxplane.providers.streams import close_stream

log = logging.getLogger(__name__)

P = TypeVar("P")
T = TypeVar("T")

_EWMA_WEIGHT = 0.3
"""Weight of the newest time to first result in a provider's running average."""


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    attempt_timeout_s: float = 4.0
    """No first result after this: the attempt failed, the next provider is tried."""
    prefer_fastest: bool = False


@dataclass(eq=False)
class Member(Generic[P]):
    """One provider in a fallback list, with its (shared) breaker."""

    name: str
    """The provider's name (``deepgram``): the metric label and what logs show."""
    provider: P
    breaker: Breaker
    first_result_s: float | None = field(default=None)
    """Running average of the time to first result, once known."""

    def observe(self, seconds: float) -> None:
        previous = self.first_result_s
        self.first_result_s = (
            seconds if previous is None else previous + _EWMA_WEIGHT * (seconds - previous)
        )


class FallbackRouter(Generic[P]):
    """Routes each request to the first provider that answers."""

    def __init__(
        self,
        kind: str,
        members: Sequence[Member[P]],
        policy: RoutingPolicy | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not members:
            raise ValueError("a fallback needs at least one provider")
        self.kind = kind
        self.members = list(members)
        self.policy = policy or RoutingPolicy()
        self._clock = clock

    def now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def _ranked(self) -> list[Member[P]]:
        if not self.policy.prefer_fastest:
            return list(self.members)
        # unknown first, so a provider never measured gets measured
        return sorted(self.members, key=lambda m: m.first_result_s or 0.0)

    def _candidates(self) -> Iterator[Member[P]]:
        """The members to try, in order, each admitted by its breaker when its turn comes
        (lazily: a half-open breaker's probe is claimed only by a request that uses it)."""
        ranked = self._ranked()
        admitted = False
        for member in ranked:
            if member.breaker.allow(self.now()):
                admitted = True
                yield member
        if not admitted:  # every breaker open: try them all rather than go silent
            yield from ranked

    def _failed(self, member: Member[P], error: BaseException) -> ProviderError:
        member.breaker.failed(self.now())
        if isinstance(error, ProviderError):
            failure = error
        elif isinstance(error, TimeoutError):
            failure = ProviderError(
                f"{member.name} gave no result in {self.policy.attempt_timeout_s:g} s",
                retryable=True,
            )
        else:  # an adapter bug must not end the call: it is one more failed provider
            log.error("provider raised an unexpected error", exc_info=error)
            failure = ProviderError(f"{member.name} failed ({type(error).__name__})")
        metrics.PROVIDER_FAILURES.labels(member.name, self.kind, str(failure.retryable)).inc()
        log.warning(
            "provider failed",
            extra={"provider": member.name, "kind": self.kind, "error": str(failure)},
        )
        return failure

    def _answered(self, member: Member[P], started: float, position: int) -> None:
        member.observe(self.now() - started)
        if position:
            metrics.PROVIDER_FALLBACKS.labels(self.kind).inc()

    def _all_failed(self, failures: list[ProviderError]) -> ProviderError:
        reasons = "; ".join(str(f) for f in failures)
        retryable = any(f.retryable for f in failures)
        return ProviderError(f"every {self.kind} provider failed: {reasons}", retryable=retryable)

    async def call(self, request: Callable[[P], Awaitable[T]]) -> T:
        """One request and its whole answer (a transcript, a completion)."""
        failures: list[ProviderError] = []
        for position, member in enumerate(self._candidates()):
            started = self.now()
            try:
                async with asyncio.timeout(self.policy.attempt_timeout_s):
                    answer = await request(member.provider)
            except asyncio.CancelledError:
                member.breaker.abandoned()
                raise
            except Exception as error:  # translated and counted in _failed
                failures.append(self._failed(member, error))
                continue
            member.breaker.succeeded()
            self._answered(member, started, position)
            return answer
        raise self._all_failed(failures)

    async def stream(self, request: Callable[[P], AsyncIterator[T]]) -> AsyncIterator[T]:
        """A streamed answer (audio, text): the first provider whose first item arrives in
        time streams the rest."""
        failures: list[ProviderError] = []
        for position, member in enumerate(self._candidates()):
            started = self.now()
            items = request(member.provider)
            verdict = False
            try:
                try:
                    async with asyncio.timeout(self.policy.attempt_timeout_s):
                        first = await anext(items)
                except StopAsyncIteration:
                    member.breaker.succeeded()
                    verdict = True
                    return
                except Exception as error:  # translated and counted
                    failures.append(self._failed(member, error))
                    verdict = True
                    continue
                self._answered(member, started, position)
                yield first
                try:
                    async for item in items:
                        yield item
                except Exception as error:  # after the first item: no restart
                    verdict = True
                    raise self._failed(member, error) from error
                member.breaker.succeeded()
                verdict = True
                return
            finally:
                if not verdict:
                    member.breaker.abandoned()
                await close_stream(items)
        raise self._all_failed(failures)


class FallbackSTT(STT):
    """Speech to text from the first provider that answers."""

    def __init__(self, router: FallbackRouter[STT]) -> None:
        self._router = router
        stts = [m.provider for m in router.members]
        self.capabilities = SttCapabilities(
            streaming=False, hints=any(s.capabilities.hints for s in stts)
        )
        self.sample_rate = stts[0].sample_rate
        if any(s.sample_rate != self.sample_rate for s in stts):
            raise ValueError("every STT in a fallback must take the same sample rate")

    @property
    def router(self) -> FallbackRouter[STT]:
        return self._router

    def can_start_now(self) -> bool:
        return self._router.members[0].provider.can_start_now()

    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        return await self._router.call(lambda stt: stt.recognize(samples, hint))


class FallbackTTS(TTS):
    """Speech from the first provider whose audio starts in time. Providers may differ in
    sample rate: every frame says its own, and the pipeline resamples per frame."""

    def __init__(self, router: FallbackRouter[TTS]) -> None:
        self._router = router
        self.capabilities = router.members[0].provider.capabilities

    @property
    def router(self) -> FallbackRouter[TTS]:
        return self._router

    def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        return self._router.stream(lambda tts: tts.synthesize(text))

    async def aclose(self) -> None:
        for member in self._router.members:
            await member.provider.aclose()


class FallbackLLM(LLM):
    """Chat models in order: a model that fails or gives no first token (or tool call) in
    time is skipped for the next; one that fails mid-answer is not restarted elsewhere."""

    def __init__(self, router: FallbackRouter[LLM]) -> None:
        self._router = router
        models = [m.provider for m in router.members]
        self.name = " > ".join(model.name for model in models)
        self.capabilities = LlmCapabilities(tools=all(m.capabilities.tools for m in models))

    @property
    def router(self) -> FallbackRouter[LLM]:
        return self._router

    def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], options: LlmOptions
    ) -> AsyncIterator[LlmEvent]:
        return self._router.stream(lambda llm: llm.stream(messages, tools, options))

    async def aclose(self) -> None:
        for member in self._router.members:
            await member.provider.aclose()
