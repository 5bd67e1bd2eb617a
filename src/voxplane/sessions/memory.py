"""In-memory session backends: one process, one event loop, the embedded default.

No operation awaits between reading its state and writing it back, so tasks on one event
loop see every hit, acquire and renew as atomic. They are not thread-safe: share them
between tasks, not threads. The clock is injectable so tests can drive time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from voxplane.sessions.base import (
    MIN_LOAN,
    Decision,
    Lease,
    LeaseStore,
    Loan,
    Rate,
    Settlement,
    SharedRateLimiter,
    check_capacity,
    check_cost,
    check_ttl,
)

Clock = Callable[[], float]

DEFAULT_MAX_KEYS = 10_000
"""Buckets (or scopes) held before the idle ones are pruned."""
EPSILON = 1e-9
"""Tokens lost to float rounding: 0.3 s at 10/s must refill 3 tokens, not 2.9999999."""


def take(
    tokens: float, elapsed_s: float, rate: Rate, cost: int, lent: int = 0
) -> tuple[float, Decision]:
    """One token-bucket step, pure: refill for `elapsed_s`, then take `cost` if there.

    `lent` tokens are out on loan: the bucket refills only up to its capacity minus them.
    Returns the tokens left and the decision. The Redis Lua script mirrors this.
    """
    capacity = rate.capacity
    refill = rate.refill_per_s
    tokens = min(max(0.0, float(capacity - lent)), tokens + max(0.0, elapsed_s) * refill)
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


def lendable(tokens: float, wanted: int) -> int:
    """What a loan may take: at most half of what is left, so that other processes find
    tokens too and the last ones are always decided one request at a time."""
    size = min(wanted, int(tokens / 2 + EPSILON))
    return size if size >= MIN_LOAN else 0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    full_at: float
    """From then on the bucket equals a fresh one, so it may be forgotten."""
    loans: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Loans out: id → (size, expires_at)."""

    def lent(self, now: float) -> int:
        """Tokens out on loans still held, after forgetting the expired ones."""
        self.loans = {i: loan for i, loan in self.loans.items() if loan[1] > now}
        return sum(size for size, _ in self.loans.values())


class MemoryRateLimiter(SharedRateLimiter):
    """Token buckets in a dict, bounded by the keys in use.

    A bucket that has refilled completely (and lent nothing) is the same as no bucket, so
    once the dict holds more than `max_keys` buckets the full ones are dropped; nothing any
    key observes changes. The next prune waits until the dict has doubled from what
    survived, so when most buckets are busy pruning still costs O(1) per hit, amortized.
    """

    def __init__(self, clock: Clock = time.monotonic, *, max_keys: int = DEFAULT_MAX_KEYS):
        self._clock = clock
        self._max_keys = max_keys
        self._prune_at = max_keys
        self._buckets: dict[str, _Bucket] = {}

    async def take(
        self,
        key: str,
        rate: Rate,
        cost: int,
        *,
        loan: Loan | None = None,
        hold_s: float = 0.0,
        settle: Sequence[Settlement] = (),
    ) -> tuple[Decision, int]:
        check_cost(rate, cost, least=0)
        now = self._clock()
        bucket = self._buckets.get(key) or _Bucket(float(rate.capacity), now, now)
        lent = bucket.lent(now) if bucket.loans else 0
        tokens, elapsed = bucket.tokens, now - bucket.updated
        if settle:  # refill first: the loans were spent at unknown times before now
            tokens, _ = take(tokens, elapsed, rate, 0, lent)
            elapsed = 0.0
            for given in settle:
                if bucket.loans.pop(given.loan.loan_id, None) is not None:
                    lent -= given.loan.size
                    tokens = min(max(0.0, rate.capacity - lent), tokens + given.unspent)
        tokens, decision = take(tokens, elapsed, rate, cost, lent)
        size = lendable(tokens, loan.size) if loan is not None and decision.allowed else 0
        if loan is not None and size:
            tokens -= size
            bucket.loans[loan.loan_id] = (size, now + hold_s)
        full_at = now + (rate.capacity - tokens) / rate.refill_per_s
        if bucket.loans:
            full_at = max(full_at, *(expiry for _, expiry in bucket.loans.values()))
        self._buckets[key] = _Bucket(tokens, now, full_at, bucket.loans)
        if len(self._buckets) > self._prune_at:
            self._prune(now)
        return decision, size

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
