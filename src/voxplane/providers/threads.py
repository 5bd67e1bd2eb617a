"""Thread pools for model inference, at a lower CPU priority than the event loop.

Calls' audio runs on the event loop; inference runs in these threads. When the CPU is
oversubscribed, the scheduler should run the loop's 20 ms frame work first and let
inference wait a moment: a late frame is heard, a transcript 2 ms later is not. Threads an
inference library starts from these threads (OpenMP, onnxruntime pools) inherit the
priority, so models must also be warmed up through the pool.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

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
