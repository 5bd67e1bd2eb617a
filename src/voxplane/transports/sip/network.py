"""SIP sockets: a UDP socket and TCP/TLS listeners, plus outbound TCP connections.

Thin on purpose: complete messages (a datagram, or a frame cut from a stream with
:func:`~voxplane.transports.sip.message.frame_stream`) go to one ``receive(data, flow)``
callback, and :meth:`SipNetwork.send` writes bytes to a :class:`Flow`. Parsing, dialogs and
transactions live above. A stream that loses framing (no ``Content-Length``, oversize) is
closed; a connection idle for ``idle_timeout_s`` is closed; connections are capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from voxplane.transports.sip.message import SipParseError, frame_stream

log = logging.getLogger(__name__)

TransportName = Literal["UDP", "TCP", "TLS"]
Address = tuple[str, int]
MAX_CONNECTIONS = 1024
IDLE_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class Flow:
    """Where a message came from / goes to: the transport and the remote address."""

    transport: TransportName
    remote: Address

    @property
    def host(self) -> str:
        return self.remote[0]


Receiver = Callable[[bytes, Flow], None]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receive: Receiver) -> None:
        self._receive = receive

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._receive(data, Flow("UDP", (str(addr[0]), int(addr[1]))))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable and the like
        log.debug("sip udp error", extra={"error": str(exc)})


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection: frames messages off the byte stream."""

    def __init__(self, network: SipNetwork, name: TransportName) -> None:
        self._network = network
        self._name = name
        self._buffer = b""
        self._idle: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None
        self.flow: Flow | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is not an asyncio.Transport subclass, but it is one.
        transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer is None or len(self._network.connections) >= MAX_CONNECTIONS:
            transport.abort()
            return
        self.transport = transport
        self.flow = Flow(self._name, (str(peer[0]), int(peer[1])))
        self._network.connections[self.flow] = self
        self._touch()

    def data_received(self, data: bytes) -> None:
        if self.flow is None:
            return
        self._touch()
        try:
            frames, self._buffer = frame_stream(self._buffer + data)
        except SipParseError:
            self.close()  # framing is lost: nothing after this can be trusted
            return
        for frame in frames:
            self._network.receive(frame, self.flow)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self.flow is not None and self._network.connections.get(self.flow) is self:
            del self._network.connections[self.flow]

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._network.idle_timeout_s, self.close)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self._touch()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class SipNetwork:
    """The process's SIP sockets. ``receive`` is called for every complete message."""

    def __init__(self, receive: Receiver, *, idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.receive = receive
        self.idle_timeout_s = idle_timeout_s
        self.connections: dict[Flow, _Stream] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._servers: list[asyncio.Server] = []
        self.ports: dict[TransportName, int] = {}

    async def start(
        self, host: str, port: int, *, tls: ssl.SSLContext | None = None, tls_port: int = 0
    ) -> None:
        """Listen on UDP and TCP ``host:port`` (``port`` 0 picks a free one, the same for
        both) and, with a context, TLS on ``tls_port``."""
        loop = asyncio.get_running_loop()
        tcp = await loop.create_server(lambda: _Stream(self, "TCP"), host, port)
        self._servers.append(tcp)
        self.ports["TCP"] = tcp.sockets[0].getsockname()[1]
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self.receive), local_addr=(host, self.ports["TCP"])
        )
        self._udp = udp
        self.ports["UDP"] = self.ports["TCP"]
        if tls is not None:
            server = await loop.create_server(lambda: _Stream(self, "TLS"), host, tls_port, ssl=tls)
            self._servers.append(server)
            self.ports["TLS"] = server.sockets[0].getsockname()[1]

    def send(self, flow: Flow, data: bytes) -> None:
        """Send ``data`` on ``flow``; a stream flow without a connection drops it (logged)."""
        if flow.transport == "UDP":
            if self._udp is not None:
                self._udp.sendto(data, flow.remote)
            return
        connection = self.connections.get(flow)
        if connection is None:
            log.info("sip connection gone", extra={"transport": flow.transport})
            return
        connection.write(data)

    async def connect(self, transport: TransportName, remote: Address) -> Flow:
        """A flow to ``remote``: UDP needs nothing; TCP opens (or reuses) a connection."""
        flow = Flow(transport, remote)
        if transport == "UDP" or flow in self.connections:
            return flow
        if transport == "TLS":
            raise ValueError("outbound TLS is not supported")
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: _Stream(self, "TCP"), *remote)
        assert protocol.flow is not None
        return protocol.flow

    async def aclose(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self.connections.values()):
            connection.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        if self._udp is not None:
            self._udp.close()
