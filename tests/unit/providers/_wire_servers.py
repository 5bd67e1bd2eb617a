"""Loopback servers that play a cloud provider's side of its wire protocol, for the adapter
tests: a websocket server (``websockets``) and a minimal HTTP/1.1 server (asyncio streams,
so a test can cut a body short or never answer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

WsHandler = Callable[[ServerConnection], Awaitable[None]]


@dataclass
class Seen:
    """What the server received, for the test to check."""

    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    messages: list[str | bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def ws_server(
    handler: WsHandler, seen: Seen, refuse: tuple[int, str] | None = None
) -> AsyncIterator[str]:
    """A websocket server on loopback; yields its base URL (``ws://127.0.0.1:port``).
    ``refuse`` answers every handshake with that HTTP status and body instead."""

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        seen.paths.append(request.path)
        seen.headers.append({k.lower(): v for k, v in request.headers.raw_items()})
        if refuse is not None:
            return connection.respond(HTTPStatus(refuse[0]), refuse[1])
        return None

    async def run(connection: ServerConnection) -> None:
        await handler(connection)

    async with serve(run, "127.0.0.1", 0, process_request=process_request) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


HttpHandler = Callable[[HttpRequest, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return HttpRequest(method, path, headers, body)


@asynccontextmanager
async def http_server(handler: HttpHandler, seen: Seen) -> AsyncIterator[str]:
    """An HTTP/1.1 server on loopback (one request per connection); yields its base URL."""
    writers: set[asyncio.StreamWriter] = set()

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            request = await _read_request(reader)
            seen.paths.append(request.path)
            seen.headers.append(request.headers)
            seen.bodies.append(request.body)
            await handler(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        await server.wait_closed()


def head(status: int, content_type: str, length: int | None = None) -> bytes:
    """A response head; chunked when ``length`` is None."""
    reason = HTTPStatus(status).phrase
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{framing}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


async def respond(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str
) -> None:
    writer.write(head(status, content_type, len(body)) + body)
    await writer.drain()


async def respond_chunked(
    writer: asyncio.StreamWriter, chunks: list[bytes], content_type: str
) -> None:
    """A 200 whose body goes out in ``chunks`` (HTTP chunked encoding), as a stream would."""
    writer.write(head(200, content_type))
    for chunk in chunks:
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def never_answer(_request: HttpRequest, _writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)  # the test's timeout ends it; the server close cancels it
