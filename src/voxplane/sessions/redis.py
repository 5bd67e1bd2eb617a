"""Redis session backends: the rate limiter and leases shared by every worker.

Each decision is one EVALSHA of a Lua script, so it is atomic however many workers race.
The scripts read the time with ``TIME`` on the server, so the workers' clocks never
matter; Redis 7 replicates their effects, not the scripts, which makes that safe.
Every key expires once it stops mattering (a full bucket, a scope without live leases):
an idle tenant costs nothing.

Keys: ``{prefix}:rl:{key}`` (a hash: tokens, ts), ``{prefix}:rl:{key}:loans`` (a sorted
set: member ``{loan_id}:{size}``, score the expiry in milliseconds; the tokens lent to
processes, see :mod:`voxplane.sessions.batching`) and ``{prefix}:lease:{scope}`` (a sorted
set: member ``{lease_id}:{holder}``, score the expiry in milliseconds).

The backends use a client they are given and do not close it: whoever opened it does
(:func:`voxplane.sessions.factory.open_backends`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from voxplane.errors import UnavailableError
from voxplane.net.cancels import cancels_kept
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

# Lua turns numbers into strings with 14 significant digits: a time in milliseconds
# since the epoch would lose its sub-millisecond part, so the scripts format explicitly.
_NUM = "local function num(x) return string.format('%.17g', x) end\n"

_TAKE = (
    _NUM
    + """
-- KEYS: the bucket (hash: tokens, ts), its loans (sorted set: member '{id}:{size}', score
-- the expiry in ms). ARGV: capacity, refill per second, cost, loan id, loan size wanted,
-- hold ms, min loan, then (member, unspent) per loan settled. Mirrors MemoryRateLimiter.take.
local capacity, refill, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local wanted, hold, min_loan = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local now = now_ms / 1000
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', num(now_ms))
local lent = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  lent = lent + tonumber(string.match(member, ':(%d+)$'))
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(math.max(0, capacity - lent), tokens + math.max(0, now - ts) * refill)
for i = 8, #ARGV, 2 do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then
    lent = lent - tonumber(string.match(ARGV[i], ':(%d+)$'))
    tokens = math.min(math.max(0, capacity - lent), tokens + tonumber(ARGV[i + 1]))
  end
end
local allowed = tokens + 1e-9 >= cost
local retry, size = 0, 0
if allowed then
  tokens = math.max(0, tokens - cost)
  size = math.min(wanted, math.floor(tokens / 2 + 1e-9))
  if size < min_loan then size = 0 end
else
  retry = (cost - tokens) / refill
end
local reset = (capacity - tokens) / refill
local remaining = math.floor(tokens + 1e-9)
local live_ms = 0
if size > 0 then
  tokens = tokens - size
  redis.call('ZADD', KEYS[2], num(now_ms + hold), ARGV[4] .. ':' .. size)
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then
  live_ms = math.ceil(tonumber(last[2]) - now_ms) + 1
  redis.call('PEXPIRE', KEYS[2], live_ms)
end
redis.call('HSET', KEYS[1], 'tokens', num(tokens), 'ts', num(now))
live_ms = math.max(live_ms, math.ceil((capacity - tokens) / refill * 1000), 1)
redis.call('PEXPIRE', KEYS[1], live_ms)
return {allowed and 1 or 0, remaining, num(reset), num(retry), size}
"""
)

# Shared head of the lease scripts: the server time in ms, and expired leases purged.
_PURGE = (
    _NUM
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
local function keep()  -- the scope key lives as long as its longest lease
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(last[2]) - now) + 1)
end
"""
)

_ACQUIRE = (
    _PURGE
    + """
-- ARGV: capacity, ttl ms, member
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return false end
local expires = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], num(expires), ARGV[3])
keep()
return num(expires)
"""
)

_RENEW = (
    _PURGE
    + """
-- ARGV: member, ttl ms
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return false end
local expires = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', num(expires), ARGV[1])
keep()
return num(expires)
"""
)

_ACTIVE = _PURGE + "return redis.call('ZCARD', KEYS[1])\n"


@contextmanager
def translate_errors() -> Iterator[None]:
    """Raise an unreachable or timing-out Redis as :class:`UnavailableError` (retryable),
    and a cancellation redis-py swallowed as the :class:`asyncio.CancelledError` it was
    (:mod:`voxplane.net.cancels`)."""
    with cancels_kept():
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise UnavailableError("redis is unreachable", retryable=True) from exc


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRateLimiter(SharedRateLimiter):
    """Token buckets in Redis hashes (and their loans in sorted sets), one script run each."""

    def __init__(self, client: Redis, *, prefix: str = "vxp") -> None:
        self._prefix = prefix
        self._take = client.register_script(_TAKE)

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
        args: list[str | int] = [rate.capacity, repr(rate.refill_per_s), cost]
        args += [loan.loan_id, loan.size] if loan is not None else ["", 0]
        args += [repr(hold_s * 1000), MIN_LOAN]
        for given in settle:
            args += [f"{given.loan.loan_id}:{given.loan.size}", given.unspent]
        bucket = f"{self._prefix}:rl:{key}"
        with translate_errors():
            reply = await self._take(keys=[bucket, f"{bucket}:loans"], args=args)
        allowed, remaining, reset_s, retry_after_s, size = reply
        decision = Decision(
            allowed=bool(allowed),
            limit=rate.capacity,
            remaining=int(remaining),
            reset_s=float(_text(reset_s)),
            retry_after_s=float(_text(retry_after_s)),
        )
        return decision, int(size)


class RedisLeaseStore(LeaseStore):
    """Leases in one Redis sorted set per scope, scored by expiry (server time, ms)."""

    def __init__(self, client: Redis, *, prefix: str = "vxp") -> None:
        self._client = client
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._active = client.register_script(_ACTIVE)

    def _key(self, scope: str) -> str:
        return f"{self._prefix}:lease:{scope}"

    async def acquire(self, scope: str, capacity: int, holder: str, ttl_s: float) -> Lease | None:
        check_capacity(capacity)
        check_ttl(ttl_s)
        lease_id = secrets.token_hex(16)
        with translate_errors():
            expires_ms = await self._acquire(
                keys=[self._key(scope)],
                args=[capacity, repr(ttl_s * 1000), _member(lease_id, holder)],
            )
        if expires_ms is None:
            return None
        return Lease(scope, lease_id, holder, float(_text(expires_ms)) / 1000)

    async def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        check_ttl(ttl_s)
        with translate_errors():
            expires_ms = await self._renew(
                keys=[self._key(lease.scope)],
                args=[_member(lease.lease_id, lease.holder), repr(ttl_s * 1000)],
            )
        if expires_ms is None:
            return None
        return Lease(lease.scope, lease.lease_id, lease.holder, float(_text(expires_ms)) / 1000)

    async def release(self, lease: Lease) -> None:
        with translate_errors():
            await self._client.zrem(self._key(lease.scope), _member(lease.lease_id, lease.holder))

    async def active(self, scope: str) -> int:
        with translate_errors():
            count = await self._active(keys=[self._key(scope)])
        return int(count)


def _member(lease_id: str, holder: str) -> str:
    # lease_id is hex, so the first ':' ends it whatever the holder contains
    return f"{lease_id}:{holder}"
