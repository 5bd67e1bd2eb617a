"""Closing the streams providers return, and ending a stream of results.

An async generator left early (a barge-in, a fallback's timeout) runs its ``finally`` only
when closed, else whenever it is garbage collected: until then its request goes on (a
cloud TTS keeps generating audio nobody hears). Whoever stops reading a stream closes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")


async def close_stream(stream: AsyncIterator[object]) -> None:
    """Close ``stream`` if it can be closed (an async generator)."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


@asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """``stream`` for the ``async with`` block, closed when the block is left."""
    try:
        yield stream
    finally:
        await close_stream(stream)


async def end_results(
    tasks: Collection[asyncio.Task[Any]], results: asyncio.Queue[T | None]
) -> None:
    """Cancel a stream's ``tasks``, wait for them, then end its ``results`` queue with
    None, dropping the oldest result when it is full (a reader that is gone or far behind
    still sees the end)."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    if results.full():
        results.get_nowait()
    results.put_nowait(None)
