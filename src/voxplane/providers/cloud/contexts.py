"""One websocket a call keeps for all its requests to a provider that carries many requests
on one socket, each under a context id of its own (Cartesia).

Opening a socket costs a TCP, TLS and websocket handshake: a round trip or more added to
the first audio of every sentence when each sentence opens its own. A
:class:`ContextSocket` opens the socket on first use and keeps it until :meth:`aclose`:

- each request is a context; messages are filed under the context they name, and those of
  contexts no longer open (a cancelled sentence's late chunks) are dropped;
- a request left before the provider ended it (a barge-in) sends the provider's cancel for
  its context and keeps the socket;
- a socket the provider closed (an idle timeout, a restart) is replaced: before a request
  when it is known closed, and once, transparently, when it turns out closed before the
  request got any answer. A socket opened for the request that fails is the answer;
- a timeout or a message that is not the protocol ends the socket: the request fails, the
  next one opens a new socket.

Requests may overlap: whichever waits reads the next message and files it (no reader task
to own). Messages that name no context concern the socket: every open context gets them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from voxplane.errors import ProviderError
from voxplane.providers.cloud.common import (
    Endpoint,
    closed_error,
    connect_socket,
    parse_json,
    protocol_error,
    timeout_error,
)

CANCEL_TIMEOUT_S = 0.5
"""A cancel is one small frame: never hold a barge-in up longer to send it."""

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Protocol:
    """What the socket needs of a provider's messages."""

    provider: str
    context_of: Callable[[Message], str | None]
    """The context a message belongs to; None for the socket's own (an error)."""
    cancel: Callable[[str], str]
    """The message that cancels a context."""


class Context:
    """One request on the socket: its opening message and what was filed for it."""

    def __init__(self, context_id: str, request: str) -> None:
        self.id = context_id
        self.request = request
        self.socket: ClientConnection | None = None
        self.inbox: deque[Message] = deque()
        self.answered = False
        self.may_reconnect = True
        """Until an answer arrives, or a socket is opened for it."""
        self.ended = False
        """The provider said the context is over (done, error): nothing to cancel."""


class _Closed(Exception):
    """The socket a context was on closed; ``error`` is what the request fails with."""

    def __init__(self, error: ProviderError) -> None:
        self.error = error


class ContextSocket:
    """A call's websocket to one provider, opened on first use; see the module."""

    def __init__(
        self, protocol: Protocol, url: str, headers: Mapping[str, str], endpoint: Endpoint
    ) -> None:
        self._protocol = protocol
        self._url = url
        self._headers = dict(headers)
        self._endpoint = endpoint
        self._socket: ClientConnection | None = None
        self._open: dict[str, Context] = {}
        self._reading = asyncio.Lock()

    @asynccontextmanager
    async def context(self, context_id: str, request: str) -> AsyncIterator[Context]:
        """A context whose opening ``request`` is sent; cancelled when the block is left
        before the provider ended it."""
        context = Context(context_id, request)
        self._open[context_id] = context
        try:
            await self._attach(context)
            yield context
        finally:
            del self._open[context_id]
            if not context.ended:
                await self._cancel(context)

    async def next(self, context: Context) -> Message:
        """The context's next message, within the endpoint's timeout."""
        while True:
            try:
                message = await self._wait(context)
            except _Closed as closed:
                if context.answered or not context.may_reconnect:
                    raise closed.error from None
                context.may_reconnect = False
                await self._attach(context)
                continue
            context.answered = True
            return message

    async def aclose(self) -> None:
        """Close the socket (a later request would open another)."""
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close()

    # --- the socket -------------------------------------------------------------------

    async def _attach(self, context: Context) -> None:
        """Send the context's request on the kept socket, or on a new one when the kept
        one is closed or is the one the context already failed on."""
        socket = self._socket
        if socket is None or socket.state is not State.OPEN or socket is context.socket:
            socket = await self._connect()
            context.may_reconnect = False
        context.socket = socket
        try:
            await socket.send(context.request)
        except ConnectionClosed as error:
            await self._discard(socket)
            if not context.may_reconnect:
                raise closed_error(self._protocol.provider, error, self._endpoint.api_key) from None
            context.may_reconnect = False
            await self._attach(context)

    async def _connect(self) -> ClientConnection:
        if self._socket is not None:
            await self._discard(self._socket)
        self._socket = await connect_socket(
            self._protocol.provider, self._url, self._headers, self._endpoint
        )
        return self._socket

    async def _discard(self, socket: ClientConnection) -> None:
        if self._socket is socket:
            self._socket = None
        await socket.close()

    async def _wait(self, context: Context) -> Message:
        try:
            async with asyncio.timeout(self._endpoint.timeout_s):
                while not context.inbox:
                    async with self._reading:
                        if not context.inbox:
                            await self._file_next(context)
        except TimeoutError:
            if context.socket is not None:
                await self._discard(context.socket)
            raise timeout_error(self._protocol.provider, "audio") from None
        return context.inbox.popleft()

    async def _file_next(self, context: Context) -> None:
        """Read one message from the context's socket and file it under its context."""
        socket = context.socket
        assert socket is not None
        provider = self._protocol.provider
        try:
            raw = await socket.recv()
        except ConnectionClosed as error:
            await self._discard(socket)
            raise _Closed(closed_error(provider, error, self._endpoint.api_key)) from None
        try:
            if not isinstance(raw, str):
                raise protocol_error(provider, "binary data where JSON was expected")
            message = parse_json(provider, raw)
        except ProviderError:
            await self._discard(socket)  # out of step with the protocol: start afresh
            raise
        owner = self._protocol.context_of(message)
        for open_context in self._open.values():
            if open_context.socket is socket and owner in (None, open_context.id):
                open_context.inbox.append(message)

    async def _cancel(self, context: Context) -> None:
        socket = context.socket
        if socket is None or socket is not self._socket or socket.state is not State.OPEN:
            return
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT_S):
                await socket.send(self._protocol.cancel(context.id))
        except (ConnectionClosed, TimeoutError):
            await self._discard(socket)
