"""The contract harness: the same test body runs against the memory and the Redis backends.

A test writes ``async def body(env: Env)`` and calls ``backend.run(body)``. Time passes
through ``env.advance``: a fake clock for memory, a real sleep for Redis (server time
cannot be faked), so timed tests use short durations and ``env.slack``.
The Redis backend is the real one at ``REDIS_URL``; when it is down the tests fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from voxplane.sessions import (
    BatchingRateLimiter,
    LeaseStore,
    MemoryLeaseStore,
    MemoryRateLimiter,
    RateLimiter,
    RedisLeaseStore,
    RedisRateLimiter,
)
from voxplane.sessions.base import Rate

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Env:
    """What a contract test body gets: the backends under test and a way to let time pass."""

    kind: str
    limiter: RateLimiter
    leases: LeaseStore
    advance: Callable[[float], Awaitable[None]]
    slack: float
    """Timing tolerance, seconds: real time passes between calls to Redis."""
    replica: RateLimiter
    """The limiter of a second process of the same deployment (memory: one process)."""
    now: Callable[[], float]


Body = Callable[[Env], Awaitable[None]]


def unique(name: str) -> str:
    """A key or scope no other test, or run, uses."""
    return f"{name}:{uuid.uuid4().hex[:12]}"


async def delete_prefix(client: Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)


class Harness:
    """Runs a test body in a fresh event loop against one kind of backend."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def run(self, body: Body) -> None:
        runner = self._memory if self.kind == "memory" else self._redis
        asyncio.run(runner(body))

    async def _memory(self, body: Body) -> None:
        clock = FakeClock()

        async def advance(seconds: float) -> None:
            clock.now += seconds

        limiter = MemoryRateLimiter(clock)
        env = Env("memory", limiter, MemoryLeaseStore(clock), advance, 1e-6, limiter, clock)
        try:
            await body(env)
        finally:
            await env.limiter.aclose()
            await env.leases.aclose()

    async def _redis(self, body: Body) -> None:
        # the client belongs to this event loop, so it is opened inside it
        prefix = unique("vxptest")
        client, other = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
        # as deployed: the Redis limiter behind in-process token loans, in each process
        limiter = BatchingRateLimiter(RedisRateLimiter(client, prefix=prefix))
        replica = BatchingRateLimiter(RedisRateLimiter(other, prefix=prefix))
        try:
            leases = RedisLeaseStore(client, prefix=prefix)
            clock = time.monotonic
            await body(Env("redis", limiter, leases, asyncio.sleep, 0.05, replica, clock))
        finally:
            await limiter.aclose()
            await replica.aclose()
            await delete_prefix(client, prefix)
            await client.aclose()
            await other.aclose()


def within_the_bucket(admitted: list[float], rate: Rate, slack_s: float = 0.0) -> None:
    """No window of the admission times holds more than one token bucket allows.

    For admissions i..j: j - i + 1 <= capacity + refill * (t_j - t_i + slack), checked in
    one pass by keeping the best start so far (the largest ``refill * t_i - i``).
    """
    refill = rate.refill_per_s
    best = -float("inf")
    for j, at in enumerate(sorted(admitted)):
        best = max(best, refill * at - j)
        worst = j + 1 - refill * at + best  # the most admitted in a window ending at j
        assert worst <= rate.capacity + refill * slack_s + 1e-6, (j, at, worst)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Harness:
    return Harness(request.param)


async def assert_cancels_are_kept(step: Callable[[], Awaitable[object]]) -> None:
    """A task doing ``step`` over and over is cancelled at 30 spread moments; each cancel
    must end it. redis-py swallows a cancel that lands as a command's write completes
    (``asyncio.wait_for`` on Python 3.11, CPython gh-86296), and the task then runs on."""
    swallowed = False

    async def until_cancelled() -> None:
        while not swallowed:  # a task whose cancel was lost ends when the test says
            await step()
            await asyncio.sleep(0)

    for attempt in range(30):  # bounded
        task = asyncio.get_running_loop().create_task(until_cancelled())
        await asyncio.sleep(0.0005 * (attempt % 10))
        assert task.cancel()
        try:
            async with asyncio.timeout(2.0):
                await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
        except TimeoutError:
            swallowed = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
        raise AssertionError(f"attempt {attempt}: the cancellation was swallowed")
