"""How the events worker's loops wait: a request to stop, checked between units of work,
and the backoff while a backend is away.

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

    async def pause(self, seconds: float, wake: asyncio.Event | None = None) -> bool:
        """Sleep ``seconds``, less if a stop is requested (or ``wake`` is set) meanwhile;
        whether a stop was."""
        if wake is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._event.wait()
            return self.requested
        waits = [asyncio.ensure_future(self._event.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return self.requested


class Backoff:
    """Waits that double from ``first_s`` up to ``most_s`` while something stays away."""

    def __init__(self, first_s: float = 0.1, most_s: float = 5.0) -> None:
        self.first_s, self.most_s = first_s, most_s
        self._next_s = first_s

    def next_s(self) -> float:
        wait = self._next_s
        self._next_s = min(self.most_s, 2 * wait)
        return wait

    def reset(self) -> None:
        self._next_s = self.first_s
