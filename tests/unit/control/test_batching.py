"""Token loans over a shared limiter: never more than the shared bucket, mostly local."""

from __future__ import annotations

import asyncio

from voxplane.sessions import BatchingRateLimiter, MemoryRateLimiter, Rate

DEFAULT = Rate(1000, 60.0, 200)
"""The default tenant rate: 16.7 tokens a second, a burst of 200."""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Shared(MemoryRateLimiter):
    """A shared bucket that outlives the process closing its limiter, as Redis does."""

    async def aclose(self) -> None:
        pass


def _pair(clock: Clock) -> tuple[MemoryRateLimiter, BatchingRateLimiter]:
    shared = Shared(clock)
    return shared, BatchingRateLimiter(shared, clock=clock)


async def _settle_tasks() -> None:
    for _ in range(3):  # a background top-up takes a few loop turns
        await asyncio.sleep(0)


def test_a_default_tenant_at_a_steady_pace_is_decided_locally() -> None:
    clock = Clock()
    _, limiter = _pair(clock)

    async def scenario() -> None:
        for _ in range(600):  # 10 requests a second for a minute: within the rate
            clock.now += 0.1
            assert (await limiter.hit("t", DEFAULT)).allowed
            await _settle_tasks()

    asyncio.run(scenario())
    assert limiter.local_decisions >= 500
    assert limiter.shared_decisions <= 120


def test_a_rare_key_is_decided_by_the_shared_bucket_every_time() -> None:
    clock = Clock()
    _, limiter = _pair(clock)

    async def scenario() -> None:
        for _ in range(20):  # one request every 2 s: a loan would save nothing
            clock.now += 2.0
            assert (await limiter.hit("t", DEFAULT)).allowed

    asyncio.run(scenario())
    assert (limiter.local_decisions, limiter.shared_decisions) == (0, 20)


def test_refusals_come_from_the_shared_bucket_and_stay_exact() -> None:
    clock = Clock()
    shared, limiter = _pair(clock)

    async def scenario() -> None:
        allowed = 0
        for _ in range(300):  # a saturating client: time does not move
            decision = await limiter.hit("t", DEFAULT)
            allowed += decision.allowed
            await _settle_tasks()
        # exactly the burst: the last tokens were not stranded in a loan
        assert allowed == DEFAULT.capacity
        refused = await limiter.hit("t", DEFAULT)
        assert not refused.allowed
        assert refused.retry_after_s > 0
        clock.now += 0.06  # one token refilled (16.7/s)
        assert (await limiter.hit("t", DEFAULT)).allowed
        assert not (await shared.hit("t", DEFAULT)).allowed

    asyncio.run(scenario())
    assert limiter.local_decisions > 100  # most of the burst was decided locally


def test_unspent_tokens_go_back_to_the_bucket() -> None:
    clock = Clock()
    shared = MemoryRateLimiter(clock)
    a, b = (BatchingRateLimiter(shared, clock=clock) for _ in range(2))
    rate = Rate(60, 60.0, 40)  # one token a second

    async def scenario() -> None:
        for _ in range(12):  # replica a is busy for a moment: it borrows
            clock.now += 0.05
            assert (await a.hit("t", rate)).allowed
            await _settle_tasks()
        lent = 40 - 12 - (await shared.take("t", rate, 0))[0].remaining
        assert lent > 0
        clock.now += 3.0  # a's loans expire unspent; a comes back once and settles them
        assert (await a.hit("t", rate)).allowed
        # b then a take all they can: 3.6 s refilled 3 tokens, and nothing was stranded
        granted = [(await b.hit("t", rate)).allowed for _ in range(40)]
        granted += [(await a.hit("t", rate)).allowed for _ in range(40)]
        assert sum(granted) == 40 - 13 + 3

    asyncio.run(scenario())


def test_closing_gives_the_loans_back() -> None:
    clock = Clock()
    shared, limiter = _pair(clock)

    async def scenario() -> None:
        for _ in range(20):
            clock.now += 0.01
            await limiter.hit("t", DEFAULT)
            await _settle_tasks()
        before = (await shared.take("t", DEFAULT, 0))[0].remaining
        await limiter.aclose()
        after = (await shared.take("t", DEFAULT, 0))[0].remaining
        assert after > before
        assert after == 200 - 20 + 3  # time moved 0.2 s: 3.3 tokens refilled

    asyncio.run(scenario())


def test_a_busy_key_is_topped_up_in_the_background_before_it_runs_out() -> None:
    clock = Clock()
    _, limiter = _pair(clock)
    rate = Rate(6_000_000, 60.0, 5_000_000)  # 100,000 a second

    async def scenario() -> None:
        for _ in range(2000):  # 2,000 a second: loans of up to 2,000
            clock.now += 0.0005
            assert (await limiter.hit("t", rate)).allowed
            await _settle_tasks()
        fetched = limiter.shared_decisions
        for _ in range(2000):
            clock.now += 0.0005
            assert (await limiter.hit("t", rate)).allowed
            await _settle_tasks()
        # one trip per half loan at most, and none of them in a request's way
        assert limiter.shared_decisions - fetched <= 4
        assert limiter.local_decisions >= 4000 - limiter.shared_decisions

    asyncio.run(scenario())
