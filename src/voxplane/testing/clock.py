"""A virtual clock: an asyncio event loop whose time jumps ahead whenever every task waits.

``asyncio.sleep``, ``loop.time()``, ``asyncio.timeout`` and everything built on them run in
virtual time, so a pipeline test covering a minute of call runs in milliseconds and gives
the same result every run.

Work handed to threads with ``loop.run_in_executor`` (real models) is respected: while any
is in flight, the clock follows real time, so a model that takes 300 ms still takes 300 ms
of call time. Only idle waiting is skipped, which is what lets a model test play a one-minute
call in the seconds its inference needs.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar, TypeVarTuple

from voxplane.providers.threads import ThreadWork

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real file descriptors; jumps virtual time ahead when nothing else can happen."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.threads = ThreadWork()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.threads.count:
            started = time.monotonic()
            ready = super().select(timeout)
            self.now += time.monotonic() - started
            return ready
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            return super().select(None)  # nothing scheduled: only I/O can wake us
        self.now += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """Event loop running on virtual time (starts at 0.0 seconds)."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        # Busy until the thread finishes, not until the awaiting task gives up: a cancelled
        # wait leaves the thread running, and the call's time must keep following it.
        submit = functools.partial(super().run_in_executor, executor)
        return self._virtual.threads.run(submit, functools.partial(func, *args))


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualClockLoop`."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
