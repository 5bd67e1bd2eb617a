"""What the session backends promise: a rate limiter and a store of expiring leases.

Both are small interfaces with an in-memory implementation (one process, the embedded
default) and a Redis one (many workers); ``tests/contract`` runs one suite against both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: `limit` requests per `period_s`, refilled continuously.

    The bucket holds at most `burst` tokens (`limit` when None), and starts full.
    """

    limit: int
    period_s: float = 60.0
    burst: int | None = None
    """None: the bucket holds `limit` tokens."""

    def __post_init__(self) -> None:
        if self.limit <= 0:
            raise ValueError(f"Rate.limit must be > 0, got {self.limit}")
        if not self.period_s > 0:  # also refuses NaN
            raise ValueError(f"Rate.period_s must be > 0, got {self.period_s}")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"Rate.burst must be >= 1 or None, got {self.burst}")

    @property
    def capacity(self) -> int:
        """The most tokens the bucket holds: what a client may spend at once after idling."""
        return self.burst if self.burst is not None else self.limit

    @property
    def refill_per_s(self) -> float:
        return self.limit / self.period_s


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one :meth:`RateLimiter.hit`, with what the RateLimit headers need."""

    allowed: bool
    limit: int
    """The bucket capacity (``RateLimit-Limit``)."""
    remaining: int
    """Whole tokens left after this hit, >= 0 (``RateLimit-Remaining``)."""
    reset_s: float
    """Seconds until the bucket is full again (``RateLimit-Reset``)."""
    retry_after_s: float
    """0.0 when allowed; else seconds until `cost` tokens are available (``Retry-After``)."""


class RateLimiter(ABC):
    """Token buckets keyed by a string; one ``hit`` is one atomic take-or-refuse.

    The key names the bucket, not the rate: callers include in the key whatever the rate
    depends on (``"tenant:<id>:api"``) and always pass the same rate for the same key.
    """

    @abstractmethod
    async def hit(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        """Take `cost` tokens from the bucket `key` if it holds them; refuse otherwise.

        A refused hit takes nothing. ``ValueError`` when `cost` is below 1 or above the
        bucket capacity (such a hit could never be allowed).
        """

    async def aclose(self) -> None:  # noqa: B027 - most backends own nothing to close
        """Release what the limiter owns (not a client it was given)."""


@dataclass(frozen=True, slots=True)
class Loan:
    """Tokens a shared bucket lent one process to spend locally until it gives them back.

    The bucket counts `size` against its capacity until the loan is settled or its hold
    ends, so what it holds plus what is out on loan never exceeds the capacity.
    """

    loan_id: str
    size: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """A loan given back: `unspent` of its `size` tokens return to the bucket."""

    loan: Loan
    unspent: int


class SharedRateLimiter(RateLimiter):
    """A rate limiter whose buckets can also lend tokens to one process (see ``batching``)."""

    @abstractmethod
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
        """Settle the given loans, decide a hit of `cost` (0: none), then lend: on success,
        up to ``loan.size`` more tokens, at most half of what is left, held for `hold_s`.

        Returns the decision (as :meth:`hit` gives it, counting the lent tokens as still
        in the bucket) and how many tokens were lent: 0 when fewer than ``MIN_LOAN``.
        """

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> Decision:
        check_cost(rate, cost)
        decision, _ = await self.take(key, rate, cost)
        return decision


MIN_LOAN = 2
"""A smaller loan saves no round trip: the bucket decides that request itself."""


@dataclass(frozen=True, slots=True)
class Lease:
    """One held slot of a scope's capacity, until `expires_at` unless renewed."""

    scope: str
    """What is being limited, e.g. ``"tenant:<id>:calls"``."""
    lease_id: str
    """Random and unique; names this lease for renew and release."""
    holder: str
    """Who holds it, e.g. worker id and call id: for operators, never checked."""
    expires_at: float
    """Backend clock, seconds: the memory store's clock, or Redis server time."""


class LeaseStore(ABC):
    """Counted slots per scope held as expiring leases: a concurrent-call quota.

    A holder renews its lease while the call lasts; a worker that crashes stops renewing,
    and its slot comes back when the lease expires.
    """

    @abstractmethod
    async def acquire(self, scope: str, capacity: int, holder: str, ttl_s: float) -> Lease | None:
        """Take one of `capacity` slots for `ttl_s`; None when unexpired leases hold them all.

        Expired leases are purged first, so a crashed worker cannot leak capacity.
        """

    @abstractmethod
    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """Extend a live lease; None if it already expired or was released (the slot is gone)."""

    @abstractmethod
    async def release(self, lease: Lease) -> None:
        """Give the slot back; releasing twice, or after expiry, does nothing."""

    @abstractmethod
    async def active(self, scope: str) -> int:
        """How many unexpired leases `scope` holds."""

    async def aclose(self) -> None:  # noqa: B027 - most backends own nothing to close
        """Release what the store owns (not a client it was given)."""


def check_cost(rate: Rate, cost: int, least: int = 1) -> None:
    """Refuse a cost that is not a whole number of tokens (>= `least`) the bucket can hold."""
    if cost < least:
        raise ValueError(f"cost must be >= {least}, got {cost}")
    if cost > rate.capacity:
        raise ValueError(f"cost {cost} exceeds the bucket capacity {rate.capacity}")


def check_ttl(ttl_s: float) -> None:
    if not ttl_s > 0:  # also refuses NaN
        raise ValueError(f"ttl_s must be > 0, got {ttl_s}")


def check_capacity(capacity: int) -> None:
    if capacity < 0:
        raise ValueError(f"capacity must be >= 0, got {capacity}")
