"""``net.reach.check_answers``: any HTTP answer means the server is there; silence, a
closed port and addresses the policy refuses are one clear reason each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from voxplane.errors import InvalidError
from voxplane.net.reach import Unreachable, check_answers

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _not_found(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.sleep(30)
    finally:
        writer.close()


async def _serving(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def _check(handler: Handler, **options: object) -> None:
    async for port in _serving(handler):
        await check_answers(f"http://127.0.0.1:{port}/v1", allow_private=True, **options)  # type: ignore[arg-type]


def test_any_http_answer_means_the_server_is_there() -> None:
    asyncio.run(_check(_not_found, path="/models"))  # a 404 is an answer


def test_a_server_that_never_answers_is_unreachable_in_bounded_time() -> None:
    with pytest.raises(Unreachable, match=r"cannot reach http://127\.0\.0\.1:\d+/v1 \(no answer"):
        asyncio.run(_check(_silent, timeout_s=0.3))


def test_a_closed_port_is_unreachable_and_says_so() -> None:
    with pytest.raises(Unreachable, match=r"cannot reach ws://127\.0\.0\.1:9 \(ConnectError\)"):
        asyncio.run(check_answers("ws://127.0.0.1:9", allow_private=True))


def test_the_policy_refuses_before_anything_is_sent() -> None:
    with pytest.raises(InvalidError, match="loopback") as refused:
        asyncio.run(check_answers("http://127.0.0.1:9", allow_private=False, field="x.base_url"))
    assert refused.value.field == "x.base_url"
