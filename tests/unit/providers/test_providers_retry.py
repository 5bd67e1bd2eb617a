"""The one retry policy: what ``retryable`` allows, and never after a stream has started."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from voxplane.errors import ProviderError
from voxplane.providers.retry import RetryPolicy
from voxplane.testing.clock import run_virtual


def test_call_retries_retryable_errors_up_to_the_attempts() -> None:
    tries: list[int] = []

    async def request() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ProviderError("busy", retryable=True)
        return "ok"

    assert run_virtual(RetryPolicy(attempts=3).call("x", request)) == "ok"
    assert len(tries) == 3
    tries.clear()
    with pytest.raises(ProviderError):
        run_virtual(RetryPolicy(attempts=2).call("x", request))
    assert len(tries) == 2


def test_call_does_not_retry_what_is_not_retryable() -> None:
    tries: list[int] = []

    async def request() -> str:
        tries.append(1)
        raise ProviderError("bad key")

    with pytest.raises(ProviderError, match="bad key"):
        run_virtual(RetryPolicy(attempts=5).call("x", request))
    assert len(tries) == 1


def test_a_stream_is_retried_only_before_its_first_item() -> None:
    opened: list[int] = []

    def failing_after(items: int) -> AsyncIterator[int]:
        async def stream() -> AsyncIterator[int]:
            opened.append(1)
            for i in range(items):
                yield i
            if len(opened) < 2:
                raise ProviderError("dropped", retryable=True)
            yield 99

        return stream()

    async def collect(items: int) -> list[int]:
        return [i async for i in RetryPolicy().stream("x", lambda: failing_after(items))]

    assert run_virtual(collect(0)) == [99]  # nothing yielded yet: opened again
    assert len(opened) == 2
    opened.clear()
    with pytest.raises(ProviderError):
        run_virtual(collect(2))  # two items already handed on: not retried
    assert len(opened) == 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
