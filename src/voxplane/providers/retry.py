"""The one retry policy for provider calls: retry what the error says is retryable.

Every provider failure is a :class:`~voxplane.errors.VoxplaneError` whose ``retryable``
says whether the same request may succeed if made again (a timeout, a 429, a model thread
that crashed); anything else (a 401, garbage from the provider) fails at once. A stream is
retried only before its first item: audio or text already handed on cannot be taken back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from voxplane.errors import VoxplaneError
from voxplane.providers.streams import closing

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Up to ``attempts`` tries in all; ``backoff_s`` before the second, doubling after."""

    attempts: int = 2
    backoff_s: float = 0.05

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_s < 0:
            raise ValueError("a retry policy needs attempts >= 1 and backoff_s >= 0")

    def _again(self, error: VoxplaneError, attempt: int, what: str) -> float | None:
        """The delay before the next try, or None when ``error`` must be raised."""
        if not error.retryable or attempt + 1 >= self.attempts:
            return None
        log.warning("provider call failed, retrying", extra={"what": what, "error": str(error)})
        return float(self.backoff_s * 2**attempt)

    async def call(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        """``await request()``, made again while it fails with a retryable error."""
        attempt = 0
        while True:
            try:
                return await request()
            except VoxplaneError as error:
                delay = self._again(error, attempt, what)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    async def stream(self, what: str, request: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """The items of ``request()``, opened again after a retryable error only while none
        has been yielded yet."""
        attempt = 0
        while True:
            started = False
            try:
                async with closing(request()) as items:  # left early: the request stops
                    async for item in items:
                        started = True
                        yield item
                return
            except VoxplaneError as error:
                delay = None if started else self._again(error, attempt, what)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            attempt += 1


DEFAULT_RETRY = RetryPolicy()
