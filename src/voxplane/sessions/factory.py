"""Open the session backends a deployment is configured for: memory, or Redis at a URL."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from voxplane.sessions.base import LeaseStore, RateLimiter
from voxplane.sessions.batching import BatchingRateLimiter
from voxplane.sessions.memory import MemoryLeaseStore, MemoryRateLimiter
from voxplane.sessions.redis import RedisLeaseStore, RedisRateLimiter, translate_errors


class Connection:
    """What the backends share and the deployment owns: nothing, for the memory backends."""

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        pass


class RedisConnection(Connection):
    """The Redis client behind both Redis backends."""

    def __init__(self, client: Redis) -> None:
        self.client = client

    async def ping(self) -> bool:
        """PING the server; :class:`UnavailableError` when it cannot be reached."""
        with translate_errors():
            return bool(await self.client.ping())

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True, slots=True)
class Backends:
    """The rate limiter and lease store of one process, and the connection they share."""

    limiter: RateLimiter
    leases: LeaseStore
    connection: Connection

    async def ping(self) -> bool:
        """Readiness probe: True, or :class:`UnavailableError` when the backend is down."""
        return await self.connection.ping()

    async def aclose(self) -> None:
        await self.limiter.aclose()
        await self.leases.aclose()
        await self.connection.aclose()


async def open_backends(redis_url: str | None, *, prefix: str = "vxp") -> Backends:
    """Memory backends when `redis_url` is None, else Redis ones with keys under `prefix`.

    Nothing is contacted yet: a Redis that is down shows in :meth:`Backends.ping` and in
    each operation, as :class:`UnavailableError`.
    """
    if redis_url is None:
        return Backends(MemoryRateLimiter(), MemoryLeaseStore(), Connection())
    client = Redis.from_url(redis_url)
    return Backends(
        BatchingRateLimiter(RedisRateLimiter(client, prefix=prefix)),
        RedisLeaseStore(client, prefix=prefix),
        RedisConnection(client),
    )
