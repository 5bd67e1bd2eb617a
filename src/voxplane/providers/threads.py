"""Thread pools for model inference, at a lower CPU priority than the event loop.

Calls' audio runs on the event loop; inference runs in these threads. When the CPU is
oversubscribed, the scheduler should run the loop's 20 ms frame work first and let
inference wait a moment: a late frame is heard, a transcript 2 ms later is not. Threads an
inference library starts from these threads (OpenMP, onnxruntime pools) inherit the
priority, so models must also be warmed up through the pool.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

INFERENCE_NICENESS = 5
"""Added to the thread's nice value (Linux); 0 where the platform has no per-thread nice."""


def _lower_priority() -> None:
    try:
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), current + INFERENCE_NICENESS)
    except (AttributeError, OSError):
        pass  # not Linux, or not permitted: run at normal priority


def inference_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """``workers`` threads, each at a lower priority than the thread that runs the loop."""
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=_lower_priority)


class ThreadWork:
    """Counts work handed to threads, from submission until its thread finishes.

    Cancelling the task that awaits the work does not stop a thread already running it, so
    the work stays counted until it really ends; work dropped from the queue before any
    thread took it stops counting at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def run(
        self, submit: Callable[[Callable[[], T]], asyncio.Future[T]], work: Callable[[], T]
    ) -> asyncio.Future[T]:
        """``submit(call)`` hands ``call`` to a thread (``loop.run_in_executor``)."""
        state = _State()
        with self._lock:
            self._count += 1

        def call() -> T:
            with self._lock:
                if state.dropped:
                    raise asyncio.CancelledError
                state.started = True
            try:
                return work()
            finally:
                with self._lock:
                    self._count -= 1

        def never_started(future: asyncio.Future[T]) -> None:
            with self._lock:
                if future.cancelled() and not state.started:
                    state.dropped = True
                    self._count -= 1

        future = submit(call)
        future.add_done_callback(never_started)
        return future


@dataclass(slots=True)
class _State:
    started: bool = False
    dropped: bool = False
