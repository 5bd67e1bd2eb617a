"""Token batching: most rate-limit decisions for busy keys are made in process.

A key whose bucket refills fast (thousands of requests a minute) would cost a Redis round
trip per request. Instead, a process takes a small batch of tokens from the shared bucket
at once and spends them locally; the shared bucket still never hands out more tokens than
it holds, so the limit across replicas is never exceeded. What a batch costs is precision
the other way: tokens a replica took but did not spend before they expire are lost, at most
one batch per replica per burst. Keys that refill slowly (the default 1000/minute) get no
batching at all: every decision goes to the shared limiter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from voxplane.sessions.base import Decision, Rate, RateLimiter

BATCH_WINDOW_S = 0.1
"""A batch holds what the bucket refills in this long."""
HOLD_S = 1.0
"""Held tokens expire this long after they were taken: long enough that a refill started
at half-life lands even on a saturated event loop; short enough that a replica cannot
hoard tokens and spend them later in a burst."""
MAX_BATCH_SHARE = 10
"""A batch is at most this fraction (1/n) of the bucket's capacity."""


@dataclass(slots=True)
class _Held:
    tokens: int
    expires_at: float
    limit: int
    remaining: int
    reset_s: float
    refused_until: float = 0.0


class BatchingRateLimiter(RateLimiter):
    """Wraps a shared limiter (Redis); decides locally while a batch of tokens lasts."""

    def __init__(
        self,
        shared: RateLimiter,
        *,
        window_s: float = BATCH_WINDOW_S,
        hold_s: float = HOLD_S,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.shared = shared
        self.window_s = window_s
        self.hold_s = hold_s
        self.clock = clock
        self.max_keys = max_keys
        self._held: dict[str, _Held] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refills: dict[str, asyncio.Task[None]] = {}
        self.refill_failures = 0
        self.local_decisions = 0
        self.shared_decisions = 0

    def batch_size(self, rate: Rate) -> int:
        return min(int(rate.refill_per_s * self.window_s), rate.capacity // MAX_BATCH_SHARE)

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        batch = self.batch_size(rate)
        if batch <= cost:
            self.shared_decisions += 1
            return await self.shared.hit(key, rate, cost)
        local = self._local(key, cost)
        if local is None:
            # One fetch per key at a time: whoever waited may find the new batch there.
            async with self._lock(key):
                local = self._local(key, cost)
                if local is None:
                    return await self._fetch(key, rate, cost, batch)
        self.local_decisions += 1
        if local.allowed and self._running_low(key, batch):
            self._refill_soon(key, rate, batch)
        return local

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _running_low(self, key: str, batch: int) -> bool:
        held = self._held[key]
        ending = held.expires_at - self.clock() < self.hold_s / 2
        return (ending or held.tokens < batch // 2) and key not in self._refills

    def _refill_soon(self, key: str, rate: Rate, batch: int) -> None:
        """Top up in the background before the batch runs out or expires, so that a busy
        key never waits for Redis; the task is owned here and cancelled by ``aclose``."""
        task = asyncio.get_running_loop().create_task(self._refill(key, rate, batch))
        self._refills[key] = task
        task.add_done_callback(lambda done: self._refill_done(key, done))

    async def _refill(self, key: str, rate: Rate, batch: int) -> None:
        async with self._lock(key):
            self.shared_decisions += 1
            now = self.clock()
            decision = await self.shared.hit(key, rate, batch)
            if decision.allowed:
                self._keep(key, batch, decision, now)

    def _refill_done(self, key: str, task: asyncio.Task[None]) -> None:
        self._refills.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            # Redis unreachable: the next request that finds nothing held asks it and
            # gets the error itself.
            self.refill_failures += 1

    def _local(self, key: str, cost: int) -> Decision | None:
        """A decision from what this process holds, or None to ask the shared bucket."""
        held = self._held.get(key)
        now = self.clock()
        if held is None or held.expires_at <= now:
            return None
        if held.refused_until > now:  # the shared bucket said no a moment ago
            wait = held.refused_until - now
            return Decision(False, held.limit, 0, held.reset_s, wait)
        if held.tokens < cost:
            return None
        held.tokens -= cost
        # The shared bucket's count when the batch was taken, plus what is still held.
        remaining = min(held.limit, held.remaining + held.tokens)
        return Decision(True, held.limit, remaining, held.reset_s, 0.0)

    async def _fetch(self, key: str, rate: Rate, cost: int, batch: int) -> Decision:
        self.shared_decisions += 1
        now = self.clock()
        decision = await self.shared.hit(key, rate, batch)
        if decision.allowed:
            self._keep(key, batch - cost, decision, now)
            return decision
        decision = await self.shared.hit(key, rate, cost)  # not a whole batch left
        if not decision.allowed:
            self._keep(key, 0, decision, now, refused_until=now + decision.retry_after_s)
        return decision

    def _keep(
        self, key: str, tokens: int, decision: Decision, now: float, refused_until: float = 0.0
    ) -> None:
        held = self._held.get(key)
        if held is not None and held.expires_at > now:
            tokens += held.tokens  # nothing held is thrown away by a new batch
        elif len(self._held) >= self.max_keys:
            self._held = {k: h for k, h in self._held.items() if h.expires_at > now}
            self._locks = {k: lock for k, lock in self._locks.items() if lock.locked()}
        self._held[key] = _Held(
            tokens,
            now + self.hold_s,
            decision.limit,
            decision.remaining,
            decision.reset_s,
            refused_until,
        )

    async def aclose(self) -> None:
        refills = list(self._refills.values())
        for task in refills:
            task.cancel()
        await asyncio.gather(*refills, return_exceptions=True)
        await self.shared.aclose()
