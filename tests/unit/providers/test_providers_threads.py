"""ThreadWork: thread work counts until its thread ends, not until its waiter gives up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from voxplane.providers.threads import ThreadWork


def test_abandoned_work_counts_until_its_thread_ends_and_queued_work_is_dropped() -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []
    pool = ThreadPoolExecutor(1)  # one thread: the second job waits in the queue

    def job(name: str) -> str:
        ran.append(name)
        started.set()
        release.wait(5)
        return name

    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        work = ThreadWork()

        def submit(call: Callable[[], str]) -> asyncio.Future[str]:
            return loop.run_in_executor(pool, call)

        running = work.run(submit, lambda: job("running"))
        queued = work.run(submit, lambda: job("queued"))
        await asyncio.to_thread(started.wait, 5)
        counts = [work.count]
        running.cancel()
        queued.cancel()
        await asyncio.sleep(0)
        counts.append(work.count)  # the queued job is gone; the running one is not
        release.set()
        await asyncio.to_thread(pool.shutdown, True)
        counts.append(work.count)
        return counts

    assert asyncio.run(scenario()) == [2, 1, 0]
    assert ran == ["running"]
