"""Cancellations a client library swallowed, raised again.

redis-py writes each command through :func:`asyncio.wait_for`, which on Python 3.11 returns
the write's result instead of raising when the task is cancelled just as the write
completes (CPython gh-86296, fixed in 3.12). The command then returns as if nothing had
happened: a loop around it (a call's lease renewal) never stops, and a task being stopped
(a reply cut by a barge-in) runs on. The request is still counted on the task, so a call
wrapped in :func:`cancels_kept` raises it when it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cancels_kept() -> Iterator[None]:
    task = asyncio.current_task()
    before = task.cancelling() if task is not None else 0
    yield
    if task is not None and task.cancelling() > before:
        raise asyncio.CancelledError
