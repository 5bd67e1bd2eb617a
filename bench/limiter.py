"""The rate-limit decision alone, as deployed with Redis: paced within the rate, and refused.

``.venv/bin/python bench/limiter.py [--seconds 10]``

Two limiters (two replicas of one deployment) over real Redis at 127.0.0.1:6379, each a
``BatchingRateLimiter`` over a ``RedisRateLimiter`` with its own client, as
``open_backends`` builds them. Phases, one key each, the requests split between the two:

- ``default_paced``: a tenant on the default limits (1000/minute, burst 200) at 12
  requests a second, within its 16.7/s refill, for five times the phase length (a slow
  rate needs the time for enough samples): nothing should be refused;
- ``default_refused``: the same limits, 1,000 requests a second for the duration: after
  the burst, all but the refill are refused (the refusal path);
- ``large_paced``: a tenant at 100 M/minute at 500 requests a second.

Per phase: the decision's wall time (p50/p99/max, from just before ``hit`` to its return,
in an event loop doing nothing else), how many were allowed, the admitted count against
what one bucket allows, the trips to Redis and how many decisions waited for one.
Run it with ``PYTHONPATH=<another tree>/src`` to measure that tree's limiter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from voxplane.sessions import BatchingRateLimiter, Rate, RedisRateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"
PHASES = {
    # name: (rate, requests per second, length in --seconds)
    "default_paced": (Rate(1000, 60.0, 200), 12.0, 5),
    "default_refused": (Rate(1000, 60.0, 200), 1000.0, 1),
    "large_paced": (Rate(100_000_000, 60.0, 100_000_000), 500.0, 1),
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))], 4)


async def phase(rate: Rate, per_s: float, seconds: float) -> dict[str, Any]:
    prefix = f"vxpbench:{uuid.uuid4().hex[:8]}"
    clients = [Redis.from_url(REDIS_URL) for _ in range(2)]
    replicas = [BatchingRateLimiter(RedisRateLimiter(c, prefix=prefix)) for c in clients]
    timings: list[float] = []
    allowed = 0
    clock = time.perf_counter
    started = clock()
    for n in range(int(per_s * seconds)):
        await asyncio.sleep(max(0.0, started + n / per_s - clock()))
        before = clock()
        decision = await replicas[n % 2].hit("tenant:bench", rate)
        timings.append(1000 * (clock() - before))
        allowed += decision.allowed
    elapsed = clock() - started
    trips = sum(r.shared_decisions for r in replicas)
    waited = len(timings) - sum(r.local_decisions for r in replicas)
    for replica in replicas:
        await replica.aclose()
    for client in clients:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return {
        "requests": len(timings),
        "allowed": allowed,
        "one_bucket_allows": int(rate.capacity + rate.refill_per_s * elapsed),
        "decision_ms": {q: pct(timings, float(q[1:])) for q in ("p50", "p95", "p99")}
        | {"max": round(max(timings), 4)},
        "redis_trips": trips,
        "waited_for_redis": waited,
    }


async def run(seconds: float) -> dict[str, Any]:
    return {
        name: await phase(rate, per_s, seconds * length)
        for name, (rate, per_s, length) in PHASES.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    args = parser.parse_args()
    report = asyncio.run(run(args.seconds))
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
