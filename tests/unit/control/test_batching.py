"""Token batching over a shared limiter: never more than the shared bucket, mostly local."""

from __future__ import annotations

import asyncio

from voxplane.sessions import BatchingRateLimiter, MemoryRateLimiter, Rate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pair(clock: Clock) -> tuple[MemoryRateLimiter, BatchingRateLimiter]:
    shared = MemoryRateLimiter(clock)
    return shared, BatchingRateLimiter(shared, clock=clock)


def test_slow_keys_always_ask_the_shared_limiter() -> None:
    clock = Clock()
    _, limiter = _pair(clock)
    rate = Rate(1000, 60.0, 200)  # the default tenant rate refills 1.7 tokens per 0.1 s
    assert limiter.batch_size(rate) == 1

    async def scenario() -> None:
        for _ in range(200):
            assert (await limiter.hit("t", rate)).allowed
        assert not (await limiter.hit("t", rate)).allowed

    asyncio.run(scenario())
    assert limiter.local_decisions == 0


def test_busy_keys_decide_locally_and_never_exceed_the_shared_bucket() -> None:
    clock = Clock()
    _, limiter = _pair(clock)
    rate = Rate(600_000, 60.0, 5000)  # 10,000/s: batches of 500 (capacity/10)
    assert limiter.batch_size(rate) == 500

    async def scenario() -> int:
        allowed = 0
        for _ in range(6000):
            allowed += (await limiter.hit("t", rate)).allowed
        return allowed

    allowed = asyncio.run(scenario())
    assert allowed == 5000  # the burst, exactly: the time did not move
    assert limiter.local_decisions >= 5000 - 5000 // 500
    assert limiter.shared_decisions < 1100


def test_two_replicas_together_stay_within_the_limit() -> None:
    clock = Clock()
    shared = MemoryRateLimiter(clock)
    replicas = [BatchingRateLimiter(shared, clock=clock) for _ in range(2)]
    rate = Rate(600_000, 60.0, 5000)

    async def scenario() -> int:
        allowed = 0
        for step in range(20_000):
            if step % 100 == 0:
                clock.now += 0.01  # 100 tokens refill every 100 requests
            allowed += (await replicas[step % 2].hit("t", rate)).allowed
        return allowed

    allowed = asyncio.run(scenario())
    elapsed = 200 * 0.01
    assert allowed <= 5000 + rate.refill_per_s * elapsed


def test_held_tokens_expire() -> None:
    clock = Clock()
    _, limiter = _pair(clock)
    rate = Rate(600_000, 60.0, 5000)

    async def scenario() -> None:
        await limiter.hit("t", rate)  # takes a batch of 500
        held_before = limiter.local_decisions
        clock.now += 1.0  # the batch expired
        await limiter.hit("t", rate)
        assert limiter.local_decisions == held_before  # went to the shared bucket again

    asyncio.run(scenario())


def test_a_busy_key_is_topped_up_in_the_background_before_it_runs_out() -> None:
    clock = Clock()
    shared, limiter = _pair(clock)
    rate = Rate(600_000, 60.0, 5000)  # batches of 500

    async def scenario() -> None:
        for _ in range(260):  # past half the first batch: a refill starts
            assert (await limiter.hit("t", rate)).allowed
        fetched = limiter.shared_decisions
        await asyncio.sleep(0)  # let the refill run
        await asyncio.sleep(0)
        assert limiter.shared_decisions == fetched + 1
        # 500 - 260 held plus a new batch: the next 700 need no trip to the shared bucket
        for _ in range(700):
            assert (await limiter.hit("t", rate)).allowed
        assert limiter.shared_decisions <= fetched + 2
        # what the shared bucket handed out covers everything admitted
        left = await shared.hit("t", rate)
        assert left.remaining <= 5000 - 960 - 1
        await limiter.aclose()

    asyncio.run(scenario())
