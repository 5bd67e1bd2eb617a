"""Session limits shared by the workers of a deployment.

- :class:`RateLimiter`: token buckets per key (requests per tenant, per API key).
- :class:`LeaseStore`: a concurrent-call quota held as expiring leases, so a crashed
  worker's calls free their slots by themselves.

Each has an in-memory backend (one process, the embedded default) and a Redis backend
(many workers, atomic Lua scripts); :func:`open_backends` picks by configuration, and
``tests/contract`` runs the same suite against both.
"""

from __future__ import annotations

from voxplane.sessions.base import Decision, Lease, LeaseStore, Rate, RateLimiter
from voxplane.sessions.batching import BatchingRateLimiter
from voxplane.sessions.factory import Backends, Connection, RedisConnection, open_backends
from voxplane.sessions.memory import MemoryLeaseStore, MemoryRateLimiter
from voxplane.sessions.redis import RedisLeaseStore, RedisRateLimiter

__all__ = [
    "Backends",
    "BatchingRateLimiter",
    "Connection",
    "Decision",
    "Lease",
    "LeaseStore",
    "MemoryLeaseStore",
    "MemoryRateLimiter",
    "Rate",
    "RateLimiter",
    "RedisConnection",
    "RedisLeaseStore",
    "RedisRateLimiter",
    "open_backends",
]
