"""A request to stop that the events worker's loops check between units of work.

Cancelling a loop inside a unit can leave that unit's pooled connection mid-transaction
(on SQLite, holding the database's write lock) until the garbage collector finds it; so the
worker is asked to stop, finishes the unit in hand, and is cancelled only if it overstays.
"""

from __future__ import annotations

import asyncio
import contextlib


class Stop:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``, less if a stop is requested meanwhile; whether one was."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        return self.requested
