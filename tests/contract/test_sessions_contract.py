"""One contract for the session backends, run against memory and Redis alike."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from voxplane.errors import UnavailableError
from voxplane.sessions import (
    BatchingRateLimiter,
    Decision,
    Lease,
    MemoryLeaseStore,
    MemoryRateLimiter,
    Rate,
    RedisConnection,
    RedisLeaseStore,
    RedisRateLimiter,
    open_backends,
)

from .conftest import (
    REDIS_URL,
    Env,
    FakeClock,
    Harness,
    assert_cancels_are_kept,
    delete_prefix,
    unique,
    within_the_bucket,
)

SLOW = 3600.0
"""A period over which refill during a test is negligible."""


def consistent(decision: Decision, rate: Rate, cost: int = 1) -> Decision:
    """Check what holds for every decision, whatever the backend or the moment."""
    refill = rate.refill_per_s
    assert decision.limit == rate.capacity
    assert 0 <= decision.remaining <= rate.capacity
    # remaining is the whole part of the tokens left; reset is the time to refill the rest
    assert (rate.capacity - decision.remaining - 1) / refill < decision.reset_s
    assert decision.reset_s <= (rate.capacity - decision.remaining) / refill + 1e-6
    if decision.allowed:
        assert decision.retry_after_s == 0.0
    else:
        assert decision.remaining < cost
        assert 0.0 < decision.retry_after_s <= cost / refill + 1e-6
    return decision


# -- rate limiter -------------------------------------------------------------------------


def test_burst_allows_exactly_burst_then_refuses(backend: Harness) -> None:
    rate = Rate(limit=4, period_s=1.0, burst=5)  # a token every 0.25 s

    async def body(env: Env) -> None:
        key = unique("tenant:a")
        for expected_remaining in (4, 3, 2, 1, 0):
            decision = consistent(await env.limiter.hit(key, rate), rate)
            assert decision.allowed
            assert decision.remaining == expected_remaining
        refused = consistent(await env.limiter.hit(key, rate), rate)
        assert not refused.allowed
        assert refused.remaining == 0
        assert refused.retry_after_s == pytest.approx(0.25, abs=env.slack)
        assert refused.reset_s == pytest.approx(1.25, abs=env.slack)

    backend.run(body)


def test_refill_over_time_allows_again(backend: Harness) -> None:
    rate = Rate(limit=4, period_s=1.0, burst=2)

    async def body(env: Env) -> None:
        key = unique("tenant:a")
        assert (await env.limiter.hit(key, rate)).allowed
        assert (await env.limiter.hit(key, rate)).allowed
        assert not (await env.limiter.hit(key, rate)).allowed
        await env.advance(0.3)  # 1.2 tokens
        again = consistent(await env.limiter.hit(key, rate), rate)
        assert again.allowed
        assert again.remaining == 0
        assert again.reset_s == pytest.approx(1.8 / 4, abs=env.slack)
        refused = consistent(await env.limiter.hit(key, rate), rate)
        assert not refused.allowed
        assert refused.retry_after_s == pytest.approx(0.8 / 4, abs=env.slack)
        await env.advance(1.0)  # full, and a full bucket holds no more than its capacity
        full = consistent(await env.limiter.hit(key, rate), rate)
        assert (full.allowed, full.remaining) == (True, 1)
        assert full.reset_s == pytest.approx(0.25, abs=env.slack)

    backend.run(body)


def test_keys_are_independent(backend: Harness) -> None:
    rate = Rate(limit=1, period_s=SLOW, burst=2)

    async def body(env: Env) -> None:
        a, b = unique("tenant:a"), unique("tenant:b")
        assert [(await env.limiter.hit(a, rate)).allowed for _ in range(3)] == [True, True, False]
        other = consistent(await env.limiter.hit(b, rate), rate)
        assert (other.allowed, other.remaining) == (True, 1)
        assert not (await env.limiter.hit(a, rate)).allowed

    backend.run(body)


def test_cost_takes_several_tokens(backend: Harness) -> None:
    rate = Rate(limit=2, period_s=1.0, burst=5)  # a token every 0.5 s

    async def body(env: Env) -> None:
        key = unique("tenant:a")
        first = consistent(await env.limiter.hit(key, rate, cost=3), rate, 3)
        assert (first.allowed, first.remaining) == (True, 2)
        refused = consistent(await env.limiter.hit(key, rate, cost=3), rate, 3)
        assert (refused.allowed, refused.remaining) == (False, 2)  # a refusal takes nothing
        assert refused.retry_after_s == pytest.approx(0.5, abs=env.slack)
        second = consistent(await env.limiter.hit(key, rate, cost=2), rate, 2)
        assert (second.allowed, second.remaining) == (True, 0)
        await env.advance(2.6)
        whole = consistent(await env.limiter.hit(key, rate, cost=5), rate, 5)
        assert (whole.allowed, whole.remaining) == (True, 0)

    backend.run(body)


def test_concurrent_hits_admit_exactly_burst(backend: Harness) -> None:
    rate = Rate(limit=1, period_s=SLOW, burst=20)

    async def body(env: Env) -> None:
        key = unique("tenant:a")
        decisions = await asyncio.gather(*(env.limiter.hit(key, rate) for _ in range(50)))
        allowed = [d for d in decisions if d.allowed]
        assert len(allowed) == 20
        remaining = sorted(d.remaining for d in allowed)
        if env.kind == "memory":  # each saw a different count: taken one at a time
            assert remaining == list(range(20))
        else:  # a process spending a loan counts what it holds, not what others spent
            assert all(0 <= r < 20 for r in remaining), str(remaining)

    backend.run(body)


def test_two_processes_under_concurrency_never_admit_more_than_the_bucket(
    backend: Harness,
) -> None:
    """Bursts from two processes, with pauses in which the bucket refills while loans are
    out: no window admits more than the one bucket allows."""
    rate = Rate(limit=6000, period_s=60.0, burst=40)  # 100 a second: full again in 0.4 s
    shuffle = random.Random(11)

    async def body(env: Env) -> None:
        key = unique("tenant:a")
        admitted: list[float] = []

        async def hits(count: int) -> None:
            chosen = [shuffle.choice((env.limiter, env.replica)) for _ in range(count)]
            for decision in await asyncio.gather(*(c.hit(key, rate) for c in chosen)):
                consistent(decision, rate)
                if decision.allowed:
                    admitted.append(env.now())

        for _ in range(3):
            # steady demand near the refill rate: both processes borrow, the bucket
            # refills behind the loans; then a burst that would spend both at once
            for _ in range(16):
                await hits(shuffle.choice((1, 2)))
                await env.advance(0.1)
            await env.advance(0.4)  # the bucket refills; the loans are still held
            await hits(80)
            await env.advance(shuffle.choice((0.02, 0.3)))
        # Redis: a decision is dated when its answer arrives, a round trip after the fact
        within_the_bucket(admitted, rate, slack_s=env.slack)
        assert len(admitted) > rate.capacity  # the bucket was drained and refilled
        for limiter in (env.limiter, env.replica):
            if isinstance(limiter, BatchingRateLimiter):
                assert limiter.local_decisions > 0  # the loans were exercised

    backend.run(body)


def test_two_batching_processes_over_one_bucket_never_exceed_it() -> None:
    """The same property with many more steps on a virtual clock, over three rates."""
    for rate in (Rate(1000, 60.0, 200), Rate(600, 60.0, 20), Rate(6000, 60.0, 400)):
        clock = FakeClock()
        shared = MemoryRateLimiter(clock)
        replicas = [BatchingRateLimiter(shared, clock=clock) for _ in range(2)]
        admitted = asyncio.run(_random_demand(replicas, rate, clock, random.Random(7)))
        within_the_bucket(admitted, rate)
        assert sum(r.local_decisions for r in replicas) > len(admitted) / 3


async def _random_demand(
    replicas: list[BatchingRateLimiter], rate: Rate, clock: FakeClock, shuffle: random.Random
) -> list[float]:
    admitted: list[float] = []
    for _ in range(3000):
        clock.now += shuffle.choice((0.001, 0.01, 0.05, 0.3, 0.7))
        for _ in range(shuffle.choice((1, 1, 3, 20))):
            if (await shuffle.choice(replicas).hit("t", rate)).allowed:
                admitted.append(clock.now)
        for _ in range(3):  # let the background top-ups run
            await asyncio.sleep(0)
    return admitted


def test_limiter_refuses_invalid_arguments(backend: Harness) -> None:
    rate = Rate(limit=5, burst=3)

    async def body(env: Env) -> None:
        with pytest.raises(ValueError, match="cost must be >= 1"):
            await env.limiter.hit(unique("k"), rate, cost=0)
        with pytest.raises(ValueError, match="exceeds the bucket capacity 3"):
            await env.limiter.hit(unique("k"), rate, cost=4)

    backend.run(body)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be > 0"),
        ({"limit": 1, "period_s": 0.0}, "period_s must be > 0"),
        ({"limit": 1, "period_s": float("nan")}, "period_s must be > 0"),
        ({"limit": 1, "burst": 0}, "burst must be >= 1"),
    ],
)
def test_rate_refuses_invalid_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rate(**kwargs)  # type: ignore[arg-type]


def test_rate_capacity_and_refill() -> None:
    assert Rate(limit=120).capacity == 120
    assert Rate(limit=120, burst=10).capacity == 10
    assert Rate(limit=120, period_s=60.0).refill_per_s == 2.0


# -- leases -------------------------------------------------------------------------------


def test_capacity_is_respected(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        leases = [await env.leases.acquire(scope, 3, f"w1:call{i}", 30.0) for i in range(3)]
        held = [lease for lease in leases if lease is not None]
        assert len(held) == 3
        assert len({lease.lease_id for lease in held}) == 3
        assert [(lease.scope, lease.holder) for lease in held] == [
            (scope, f"w1:call{i}") for i in range(3)
        ]
        assert await env.leases.acquire(scope, 3, "w1:call3", 30.0) is None
        assert await env.leases.active(scope) == 3

    backend.run(body)


def test_release_frees_a_slot_once(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        first = await env.leases.acquire(scope, 2, "w1:a", 30.0)
        assert first is not None
        assert await env.leases.acquire(scope, 2, "w1:b", 30.0) is not None
        await env.leases.release(first)
        await env.leases.release(first)  # idempotent: must not free the other slot
        assert await env.leases.active(scope) == 1
        assert await env.leases.acquire(scope, 2, "w1:c", 30.0) is not None
        assert await env.leases.acquire(scope, 2, "w1:d", 30.0) is None
        assert await env.leases.renew(first, 30.0) is None  # released: the slot is gone

    backend.run(body)


def test_renew_extends_a_live_lease(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        lease = await env.leases.acquire(scope, 1, "w1:a", 0.4)
        assert lease is not None
        await env.advance(0.25)
        renewed = await env.leases.renew(lease, 0.4)
        assert renewed is not None
        assert (renewed.scope, renewed.lease_id, renewed.holder) == (
            lease.scope,
            lease.lease_id,
            lease.holder,
        )
        assert renewed.expires_at - lease.expires_at == pytest.approx(0.25, abs=env.slack)
        await env.advance(0.25)  # past the first expiry, before the renewed one
        assert await env.leases.active(scope) == 1
        assert await env.leases.acquire(scope, 1, "w2:b", 0.4) is None
        await env.advance(0.3)
        assert await env.leases.active(scope) == 0
        assert await env.leases.renew(renewed, 0.4) is None

    backend.run(body)


def test_renew_of_an_expired_lease_returns_none(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        lease = await env.leases.acquire(scope, 1, "w1:a", 0.25)
        assert lease is not None
        await env.advance(0.35)
        assert await env.leases.renew(lease, 10.0) is None
        assert await env.leases.active(scope) == 0  # renewing did not resurrect it

    backend.run(body)


def test_a_dead_workers_leases_expire(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        dead = [await env.leases.acquire(scope, 3, f"dead:{i}", 0.25) for i in range(3)]
        assert all(lease is not None for lease in dead)
        assert await env.leases.acquire(scope, 3, "alive:0", 0.25) is None
        assert await env.leases.active(scope) == 3
        await env.advance(0.35)  # the worker never released nor renewed
        assert await env.leases.active(scope) == 0
        assert await env.leases.acquire(scope, 3, "alive:0", 30.0) is not None
        assert await env.leases.active(scope) == 1

    backend.run(body)


def test_a_task_cancelled_while_it_talks_to_the_store_is_cancelled(backend: Harness) -> None:
    # redis-py writes a command through asyncio.wait_for, which on Python 3.11 returns the
    # write's result instead of raising when the cancel lands just as the write completes
    # (CPython gh-86296). A call whose lease renewal was in flight when it ended then
    # never stopped renewing: its caller waited for the end forever.
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        lease = await env.leases.acquire(scope, 1, "w1:a", 30.0)
        assert lease is not None
        await assert_cancels_are_kept(lambda: env.leases.renew(lease, 30.0))
        await env.leases.release(lease)

    backend.run(body)


def test_expired_leases_are_purged_on_acquire(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        assert await env.leases.acquire(scope, 1, "dead:0", 0.25) is not None
        await env.advance(0.35)
        assert await env.leases.acquire(scope, 1, "alive:0", 30.0) is not None
        assert await env.leases.acquire(scope, 1, "alive:1", 30.0) is None

    backend.run(body)


def test_concurrent_acquires_take_exactly_capacity(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        got = await asyncio.gather(
            *(env.leases.acquire(scope, 5, f"w:{i}", 30.0) for i in range(20))
        )
        assert sum(lease is not None for lease in got) == 5
        assert await env.leases.active(scope) == 5

    backend.run(body)


def test_scopes_are_independent(backend: Harness) -> None:
    async def body(env: Env) -> None:
        a, b = unique("tenant:a:calls"), unique("tenant:b:calls")
        held = await env.leases.acquire(a, 1, "w:a", 30.0)
        assert held is not None
        assert await env.leases.acquire(a, 1, "w:a2", 30.0) is None
        other = await env.leases.acquire(b, 1, "w:b", 30.0)
        assert other is not None
        await env.leases.release(held)
        assert (await env.leases.active(a), await env.leases.active(b)) == (0, 1)

    backend.run(body)


def test_capacity_zero_always_refuses(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        for _ in range(3):
            assert await env.leases.acquire(scope, 0, "w:a", 30.0) is None
        assert await env.leases.active(scope) == 0

    backend.run(body)


def test_leases_refuse_invalid_arguments(backend: Harness) -> None:
    async def body(env: Env) -> None:
        scope = unique("tenant:a:calls")
        with pytest.raises(ValueError, match="capacity must be >= 0"):
            await env.leases.acquire(scope, -1, "w:a", 30.0)
        with pytest.raises(ValueError, match="ttl_s must be > 0"):
            await env.leases.acquire(scope, 1, "w:a", 0.0)
        lease = await env.leases.acquire(scope, 1, "w:a", 30.0)
        assert lease is not None
        with pytest.raises(ValueError, match="ttl_s must be > 0"):
            await env.leases.renew(lease, -1.0)

    backend.run(body)


# -- backend specifics ----------------------------------------------------------------------


def test_memory_limiter_forgets_full_buckets_only() -> None:
    rate = Rate(limit=1, period_s=1.0, burst=2)

    async def scenario() -> None:
        clock = FakeClock()
        limiter = MemoryRateLimiter(clock, max_keys=4)
        for i in range(4):
            await limiter.hit(f"idle:{i}", rate)
        clock.now += 5.0  # the idle buckets are full again
        busy = await limiter.hit("busy", rate, cost=2)
        assert busy.remaining == 0
        assert len(limiter) == 1  # the four full buckets went, the busy one stayed
        assert not (await limiter.hit("busy", rate)).allowed

    asyncio.run(scenario())


def test_memory_lease_store_forgets_empty_scopes() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = MemoryLeaseStore(clock, max_scopes=2)
        for i in range(2):
            await store.acquire(f"gone:{i}", 1, "w", 1.0)
        clock.now += 2.0
        assert await store.acquire("live", 1, "w", 1.0) is not None
        assert len(store) == 1

    asyncio.run(scenario())


def test_redis_keys_expire_when_idle() -> None:
    async def scenario() -> None:
        prefix = unique("vxptest")
        client = Redis.from_url(REDIS_URL)
        try:
            limiter = RedisRateLimiter(client, prefix=prefix)
            decision = await limiter.hit("k", Rate(limit=10, period_s=1.0))
            ttl_ms = await client.pttl(f"{prefix}:rl:k")
            assert 0 < ttl_ms <= decision.reset_s * 1000 + 1
            lease = await RedisLeaseStore(client, prefix=prefix).acquire("s", 1, "w", 5.0)
            assert lease is not None
            assert 0 < await client.pttl(f"{prefix}:lease:s") <= 5001
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()

    asyncio.run(scenario())


# -- factory --------------------------------------------------------------------------------


def test_open_backends_without_url_is_in_memory() -> None:
    async def scenario() -> None:
        backends = await open_backends(None)
        try:
            assert isinstance(backends.limiter, MemoryRateLimiter)
            assert isinstance(backends.leases, MemoryLeaseStore)
            assert await backends.ping() is True
        finally:
            await backends.aclose()

    asyncio.run(scenario())


def test_open_backends_with_url_is_redis() -> None:
    async def scenario() -> None:
        prefix = unique("vxptest")
        backends = await open_backends(REDIS_URL, prefix=prefix)
        assert isinstance(backends.connection, RedisConnection)
        try:
            assert isinstance(backends.limiter, BatchingRateLimiter)
            assert isinstance(backends.limiter.shared, RedisRateLimiter)
            assert isinstance(backends.leases, RedisLeaseStore)
            assert await backends.ping() is True
            assert (await backends.limiter.hit("k", Rate(limit=1))).allowed
            assert await backends.connection.client.exists(f"{prefix}:rl:k") == 1
        finally:
            await delete_prefix(backends.connection.client, prefix)
            await backends.aclose()

    asyncio.run(scenario())


def test_unreachable_redis_is_unavailable() -> None:
    async def scenario() -> None:
        backends = await open_backends("redis://127.0.0.1:1/0")  # nothing listens on port 1
        try:
            with pytest.raises(UnavailableError) as caught:
                await backends.ping()
            assert caught.value.retryable
            assert caught.value.status == 503
            with pytest.raises(UnavailableError):
                await backends.limiter.hit("k", Rate(limit=1))
            with pytest.raises(UnavailableError):
                await backends.leases.acquire("s", 1, "w", 1.0)
            with pytest.raises(UnavailableError):
                await backends.leases.release(Lease("s", "0" * 32, "w", 0.0))
        finally:
            await backends.aclose()

    asyncio.run(scenario())


# -- properties -----------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Rate, list[tuple[float, int]]]:
    """A rate and a sequence of (seconds to advance, cost) steps."""
    rate = Rate(
        limit=draw(st.integers(1, 20)),
        period_s=draw(st.sampled_from([0.5, 1.0, 7.0, 60.0])),
        burst=draw(st.none() | st.integers(1, 20)),
    )
    step = st.tuples(st.floats(0.0, 3.0, allow_nan=False), st.integers(1, rate.capacity))
    return rate, draw(st.lists(step, max_size=60))


@given(scenarios())
def test_memory_limiter_never_admits_more_than_the_rate(
    scenario: tuple[Rate, list[tuple[float, int]]],
) -> None:
    rate, steps = scenario
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock)

    async def play() -> list[tuple[float, int]]:
        admitted: list[tuple[float, int]] = []  # (time, cost) of each allowed hit
        for advance, cost in steps:
            clock.now += advance
            decision = consistent(await limiter.hit("k", rate, cost), rate, cost)
            # tokens stay within [0, capacity]: reset is the time to refill them all
            assert 0.0 <= decision.reset_s <= rate.capacity / rate.refill_per_s + 1e-9
            if decision.allowed:
                admitted.append((clock.now, cost))
        return admitted

    admitted = asyncio.run(play())
    for i, (start, _) in enumerate(admitted):
        spent = 0
        for end, cost in admitted[i:]:
            spent += cost
            assert spent <= rate.capacity + rate.refill_per_s * (end - start) + 1e-6
