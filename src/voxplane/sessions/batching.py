"""Token loans: most rate-limit decisions are made in process, none exceeds the bucket.

A decision in Redis costs a round trip per request. Instead, a process that sees steady
demand for a key asks the shared bucket for a loan of tokens sized to that demand (what it
spent in the last second, or at least 0.1 s of refill; at most a quarter of the capacity
and half of what the bucket holds) and spends them locally. The shared bucket counts a
loan against its capacity until the loan is settled or its hold ends, so the tokens it
holds plus those out on loan never exceed the capacity: whatever the replicas do, no
window admits more than the single bucket would.

What loans cost is precision the other way: tokens lent to one replica are not there for
another. A spent loan is settled with the next trip to the bucket, which then stops
counting it; one that expires unspent gives its tokens back if the process asks again
within GRACE_S, and on shutdown (else the bucket refills them, as it would anyway). When
the bucket runs low the loans shrink to nothing, so the last tokens, and every refusal,
are decided by the shared bucket per request. A refusal is remembered for its
``Retry-After``. A loan also counts refill time lost: the bucket stops refilling at its
capacity minus what is lent, including loans spent but not yet settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from voxplane.errors import UnavailableError
from voxplane.sessions.base import (
    MIN_LOAN,
    Decision,
    Loan,
    Rate,
    RateLimiter,
    Settlement,
    SharedRateLimiter,
    check_cost,
)

DEMAND_WINDOW_S = 1.0
"""A loan is the demand over this long, and demand is averaged over this long."""
HOLD_S = 3.0
"""A process spends a loan within this long. The bucket counts the loan against its
capacity until then, so a longer hold never admits more; it leaves a top-up started at
half-life time to land even on a saturated event loop, and bounds what a crashed process
strands."""
GRACE_S = 0.5
"""The shared bucket holds a loan this much longer than the process spends it, so that
the loan is never forgotten while the process may still spend it, whatever the delays."""
MAX_LOAN_SHARE = 4
"""A loan is at most this fraction (1/n) of the bucket's capacity."""
REFILL_WINDOW_S = 0.1
"""A loan is at least what the bucket refills in this long: a key whose limit is far
above its demand borrows generously, so it never waits for a top-up."""


@dataclass(slots=True)
class _Held:
    loan: Loan
    unspent: int
    expires_at: float


@dataclass(slots=True)
class _Key:
    """What one process knows of one key: its loans, its demand, its last answer."""

    held: list[_Held] = field(default_factory=list)
    """Oldest first."""
    settle: list[Settlement] = field(default_factory=list)
    """Loans spent or expired, to give back with the next request to the shared bucket."""
    demand: float = 0.0
    """Tokens per second, an exponential average over DEMAND_WINDOW_S."""
    seen: float = 0.0
    shared_left: int = 0
    """Whole tokens the shared bucket held after the last loan."""
    refused_until: float = 0.0
    refused: Decision | None = None
    """The shared bucket's last refusal: it holds for requests as costly until then."""
    refused_cost: int = 0
    low: bool = False
    """The last loan asked for was refused: the bucket is nearly empty, so requests go to
    it at once, concurrently, rather than wait for one another's loans."""
    rate: Rate | None = None
    """The key's rate, as last given: what settling on shutdown needs."""

    def note(self, now: float, cost: int, tau: float) -> None:
        self.demand = self.demand * math.exp(-(now - self.seen) / tau) + cost / tau
        self.seen = now

    def unspent(self) -> int:
        return sum(h.unspent for h in self.held)


class BatchingRateLimiter(RateLimiter):
    """Wraps the shared limiter (Redis); decides locally while a loan of tokens lasts."""

    def __init__(
        self,
        shared: SharedRateLimiter,
        *,
        hold_s: float = HOLD_S,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.shared = shared
        self.hold_s = hold_s
        self.clock = clock
        self.max_keys = max_keys
        self._keys: dict[str, _Key] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refills: dict[str, asyncio.Task[None]] = {}
        self.refill_failures = 0
        self.local_decisions = 0
        self.shared_decisions = 0

    def loan_size(self, key: str, rate: Rate) -> int:
        """What to ask for: the demand over a second (or the refill over REFILL_WINDOW_S if
        more), at most a quarter of the capacity; 0 when a loan would not pay."""
        state = self._keys.get(key)
        demand = int(state.demand * DEMAND_WINDOW_S) if state is not None else 0
        if demand < MIN_LOAN:
            return 0
        size = max(demand, int(rate.refill_per_s * REFILL_WINDOW_S))
        size = min(size, rate.capacity // MAX_LOAN_SHARE)
        return size if size >= MIN_LOAN else 0

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        check_cost(rate, cost)
        state = self._state(key)
        now = self.clock()
        state.note(now, cost, DEMAND_WINDOW_S)
        state.rate = rate
        local = self._local(state, rate, cost, now)
        if local is None:
            if state.low or not self.loan_size(key, rate):
                # not busy, or the bucket is nearly empty: each request asks it, exactly
                return await self._fetch(key, state, rate, cost)
            # One loan per key at a time: whoever waited may find it there.
            async with self._lock(key):
                local = self._local(state, rate, cost, self.clock())
                if local is None and not state.low:
                    return await self._fetch(key, state, rate, cost)
            if local is None:  # the loan that came was refused: no queue behind the lock
                return await self._fetch(key, state, rate, cost)
        self.local_decisions += 1
        if local.allowed and self._running_low(key, state, rate):
            self._refill_soon(key, state, rate)
        return local

    def _state(self, key: str) -> _Key:
        state = self._keys.get(key)
        if state is None:
            if len(self._keys) >= self.max_keys:
                self._prune(self.clock())
            state = self._keys[key] = _Key()
        return state

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _local(self, state: _Key, rate: Rate, cost: int, now: float) -> Decision | None:
        """A decision from what this process holds, or None to ask the shared bucket."""
        self._expire(state, now)
        refused = state.refused
        if refused is not None and state.refused_until > now and cost >= state.refused_cost:
            # the shared bucket said no a moment ago, and nothing lent here can say yes
            wait = state.refused_until - now
            since = refused.retry_after_s - wait
            return replace(refused, retry_after_s=wait, reset_s=refused.reset_s - since)
        for held in state.held:
            if held.unspent >= cost:
                held.unspent -= cost
                if not held.unspent:  # spent: the bucket may stop counting it at once
                    state.held.remove(held)
                    state.settle.append(Settlement(held.loan, 0))
                # shared_left is as of the last trip to Redis: never report more than a
                # bucket can hold after this hit took its tokens
                remaining = min(rate.capacity - cost, state.shared_left + state.unspent())
                reset_s = (rate.capacity - remaining) / rate.refill_per_s
                return Decision(True, rate.capacity, remaining, reset_s, 0.0)
        return None

    def _expire(self, state: _Key, now: float) -> None:
        while state.held and state.held[0].expires_at <= now:
            held = state.held.pop(0)
            state.settle.append(Settlement(held.loan, held.unspent))

    def _running_low(self, key: str, state: _Key, rate: Rate) -> bool:
        size = self.loan_size(key, rate)
        if not size or key in self._refills:
            return False
        newest = state.held[-1].expires_at if state.held else 0.0
        return state.unspent() < size / 2 or newest - self.clock() < self.hold_s / 2

    def _refill_soon(self, key: str, state: _Key, rate: Rate) -> None:
        """Top up in the background before the loans run out or expire, so that a busy
        key never waits for Redis; the task is owned here and cancelled by ``aclose``."""
        task = asyncio.get_running_loop().create_task(self._refill(key, state, rate))
        self._refills[key] = task
        task.add_done_callback(lambda done: self._refill_done(key, done))

    async def _refill(self, key: str, state: _Key, rate: Rate) -> None:
        async with self._lock(key):
            await self._borrow(key, state, rate, 0)

    def _refill_done(self, key: str, task: asyncio.Task[None]) -> None:
        self._refills.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            # Redis unreachable: the next request that finds nothing held asks it and
            # gets the error itself.
            self.refill_failures += 1

    async def _fetch(self, key: str, state: _Key, rate: Rate, cost: int) -> Decision:
        decision = await self._borrow(key, state, rate, cost)
        if not decision.allowed:
            state.refused, state.refused_cost = decision, cost
            state.refused_until = self.clock() + decision.retry_after_s
        return decision

    async def _borrow(self, key: str, state: _Key, rate: Rate, cost: int) -> Decision:
        """One trip to the shared bucket: give back what is due, take `cost`, borrow."""
        size = self.loan_size(key, rate)
        loan = Loan(secrets.token_hex(8), size) if size else None
        settle, state.settle = state.settle, []
        sent = self.clock()  # the loan's hold starts before the bucket's: it ends first
        self.shared_decisions += 1
        decision, lent = await self.shared.take(
            key, rate, cost, loan=loan, hold_s=self.hold_s + GRACE_S, settle=settle
        )
        if loan is not None and lent:
            state.held.append(_Held(Loan(loan.loan_id, lent), lent, sent + self.hold_s))
        state.low = loan is not None and not lent
        state.shared_left = max(0, decision.remaining - lent)
        return decision

    def _prune(self, now: float) -> None:
        """Forget keys that hold nothing and owe nothing (their demand decays anyway)."""
        for state in self._keys.values():
            self._expire(state, now)
        self._keys = {k: s for k, s in self._keys.items() if s.held or s.settle}
        self._locks = {k: lock for k, lock in self._locks.items() if lock.locked()}

    async def aclose(self) -> None:
        """Stop the top-ups and give every loan still held back to the shared bucket."""
        refills = list(self._refills.values())
        for task in refills:
            task.cancel()
        await asyncio.gather(*refills, return_exceptions=True)
        for key, state in self._keys.items():
            self._expire(state, math.inf)
            if state.settle and state.rate is not None:
                with contextlib.suppress(UnavailableError):
                    await self.shared.take(key, state.rate, 0, settle=state.settle)
        self._keys.clear()
        await self.shared.aclose()
