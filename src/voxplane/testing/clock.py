"""A virtual clock: an asyncio event loop whose time only moves when every task waits.

``asyncio.sleep``, ``loop.time()``, ``asyncio.timeout`` and everything built on them run in
virtual time, so a pipeline test covering a minute of call runs in milliseconds and gives
the same result every run. Real I/O still works (the selector is polled without blocking
first); threads do not advance virtual time, so fakes used under this loop must not block
in threads.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real file descriptors without waiting, then jumps virtual time ahead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout is None or timeout <= 0:
            if not ready and timeout is None:
                # Nothing scheduled and nothing ready: only a thread can wake us up.
                return super().select(None)
            return ready
        self.now += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """Event loop running on virtual time (starts at 0.0 seconds)."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualClockLoop`."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
