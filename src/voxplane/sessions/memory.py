"""In-memory session backends: one process, one event loop, the embedded default.

No operation awaits between reading its state and writing it back, so tasks on one event
loop see every hit, acquire and renew as atomic. They are not thread-safe: share them
between tasks, not threads. The clock is injectable so tests can drive time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from voxplane.sessions.base import (
    Decision,
    Lease,
    LeaseStore,
    Rate,
    RateLimiter,
    check_capacity,
    check_cost,
    check_ttl,
)

Clock = Callable[[], float]

DEFAULT_MAX_KEYS = 10_000
"""Buckets (or scopes) held before the idle ones are pruned."""
EPSILON = 1e-9
"""Tokens lost to float rounding: 0.3 s at 10/s must refill 3 tokens, not 2.9999999."""


def take(tokens: float, elapsed_s: float, rate: Rate, cost: int) -> tuple[float, Decision]:
    """One token-bucket step, pure: refill for `elapsed_s`, then take `cost` if there.

    Returns the tokens left and the decision. The Redis Lua script mirrors this.
    """
    capacity = rate.capacity
    refill = rate.refill_per_s
    tokens = min(float(capacity), tokens + max(0.0, elapsed_s) * refill)
    allowed = tokens + EPSILON >= cost
    if allowed:
        tokens = max(0.0, tokens - cost)
    decision = Decision(
        allowed=allowed,
        limit=capacity,
        remaining=int(tokens + EPSILON),
        reset_s=(capacity - tokens) / refill,
        retry_after_s=0.0 if allowed else (cost - tokens) / refill,
    )
    return tokens, decision


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    full_at: float
    """From then on the bucket equals a fresh one, so it may be forgotten."""


class MemoryRateLimiter(RateLimiter):
    """Token buckets in a dict, bounded by the keys in use.

    A bucket that has refilled completely is the same as no bucket, so once the dict holds
    more than `max_keys` buckets the full ones are dropped; nothing any key observes
    changes. The next prune waits until the dict has doubled from what survived, so when
    most buckets are busy pruning still costs O(1) per hit, amortized.
    """

    def __init__(self, clock: Clock = time.monotonic, *, max_keys: int = DEFAULT_MAX_KEYS):
        self._clock = clock
        self._max_keys = max_keys
        self._prune_at = max_keys
        self._buckets: dict[str, _Bucket] = {}

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        check_cost(rate, cost)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            tokens, decision = take(float(rate.capacity), 0.0, rate, cost)
        else:
            tokens, decision = take(bucket.tokens, now - bucket.updated, rate, cost)
        self._buckets[key] = _Bucket(tokens, now, now + decision.reset_s)
        if len(self._buckets) > self._prune_at:
            self._prune(now)
        return decision

    def _prune(self, now: float) -> None:
        self._buckets = {k: b for k, b in self._buckets.items() if b.full_at > now}
        self._prune_at = max(self._max_keys, 2 * len(self._buckets))

    def __len__(self) -> int:
        """Buckets held, full ones not yet pruned included."""
        return len(self._buckets)

    async def aclose(self) -> None:
        self._buckets.clear()


class MemoryLeaseStore(LeaseStore):
    """Leases in a dict of scopes, bounded by the scopes in use.

    A scope whose leases have all expired or been released is dropped when next touched,
    and all such scopes are dropped once more than `max_scopes` are held (same doubling
    rule as :class:`MemoryRateLimiter`).
    """

    def __init__(self, clock: Clock = time.monotonic, *, max_scopes: int = DEFAULT_MAX_KEYS):
        self._clock = clock
        self._max_scopes = max_scopes
        self._prune_at = max_scopes
        self._scopes: dict[str, dict[str, Lease]] = {}

    async def acquire(self, scope: str, capacity: int, holder: str, ttl_s: float) -> Lease | None:
        check_capacity(capacity)
        check_ttl(ttl_s)
        now = self._clock()
        if len(self._live(scope, now)) >= capacity:
            return None
        lease = Lease(scope, secrets.token_hex(16), holder, now + ttl_s)
        self._scopes.setdefault(scope, {})[lease.lease_id] = lease
        if len(self._scopes) > self._prune_at:
            self._prune(now)
        return lease

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        check_ttl(ttl_s)
        now = self._clock()
        live = self._live(lease.scope, now)
        held = live.get(lease.lease_id)
        if held is None:
            return None
        renewed = replace(held, expires_at=now + ttl_s)
        live[lease.lease_id] = renewed
        return renewed

    async def release(self, lease: Lease) -> None:
        leases = self._scopes.get(lease.scope)
        if leases is None:
            return
        leases.pop(lease.lease_id, None)
        if not leases:
            del self._scopes[lease.scope]

    async def active(self, scope: str) -> int:
        return len(self._live(scope, self._clock()))

    def _live(self, scope: str, now: float) -> dict[str, Lease]:
        """The scope's unexpired leases, after purging the expired ones from the store."""
        leases = self._scopes.get(scope)
        if leases is None:
            return {}
        live = {i: lease for i, lease in leases.items() if lease.expires_at > now}
        if live:
            self._scopes[scope] = live
        else:
            del self._scopes[scope]
        return live

    def _prune(self, now: float) -> None:
        for scope in list(self._scopes):
            self._live(scope, now)
        self._prune_at = max(self._max_scopes, 2 * len(self._scopes))

    def __len__(self) -> int:
        """Scopes held, those whose leases all expired but are not yet purged included."""
        return len(self._scopes)

    async def aclose(self) -> None:
        self._scopes.clear()
