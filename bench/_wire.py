"""What the wire saw: websocket messages on ``lo`` with the kernel's timestamps (tcpdump).

A client in Python dates a message when its event loop gets to it; with 50 calls on one
core that is often two messages in one ``recv``, which reads as 20 ms of jitter that the
server never made. tcpdump dates each TCP segment as the kernel hands it on, so pacing and
response times read from a capture are the server's, not the client's.

:func:`capture` runs tcpdump while a block runs; :func:`websocket_messages` reassembles the
TCP streams of a pcap file (loopback: in order, no loss unless tcpdump dropped packets, which
is reported) and parses the websocket frames in them (RFC 6455; client frames unmasked; no
permessage-deflate: ``voxplane serve`` turns it off).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from voxplane.testing import pcap

_DATA_OR_SYN = (
    "(ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) != 0"
    " or tcp[tcpflags] & tcp-syn != 0"
)
"""Segments that carry data, and SYNs (where a stream's sequence numbers start): no pure ACKs."""


def unavailable() -> str | None:
    """Why a capture cannot run here, or None."""
    if shutil.which("tcpdump") is None:
        return "tcpdump is not installed (apt-get install tcpdump)"
    if os.geteuid() != 0:
        return "tcpdump needs root to capture on lo"
    return None


def capture(path: Path, port: int) -> contextlib.AbstractContextManager[pcap.Capture]:
    """tcpdump on ``lo``, TCP port ``port`` both ways, data segments and SYNs only."""
    return pcap.capture(path, f"tcp port {port} and ({_DATA_OR_SYN})")


@dataclass(frozen=True)
class Message:
    at: float
    """Kernel time (``CLOCK_REALTIME``) of the segment that carried the message's last byte."""
    server_to_client: bool
    client_port: int
    text: bytes


@dataclass
class _Flow:
    next_seq: int | None = None
    buffer: bytearray = field(default_factory=bytearray)
    broken: bool = False


def websocket_messages(path: Path, server_port: int) -> tuple[list[Message], int]:
    """Every complete websocket text or binary message on ``server_port``, in wire order,
    and the number of TCP streams that could not be followed (a gap in sequence numbers:
    tcpdump dropped a segment). Control frames and the HTTP upgrade are skipped."""
    flows: dict[tuple[int, int], _Flow] = {}
    messages: list[Message] = []
    for at, ip in pcap.ipv4_packets(path):
        if len(ip) < 40 or ip[9] != 6:
            continue
        ip_len = struct.unpack_from("!H", ip, 2)[0]
        header = (ip[0] & 0x0F) * 4
        sport, dport, seq = struct.unpack_from("!HHI", ip, header)
        flags = ip[header + 13]
        payload = ip[header + (ip[header + 12] >> 4) * 4 : ip_len]
        flow = flows.setdefault((sport, dport), _Flow())
        if flags & 0x02:  # SYN: the stream starts after it
            flow.next_seq = (seq + 1) % 2**32
            continue
        if not payload or flow.broken or flow.next_seq is None:
            continue
        if seq != flow.next_seq:
            if (seq - flow.next_seq) % 2**32 > 2**31:
                continue  # a retransmission of what was already seen
            flow.broken = True
            continue
        flow.next_seq = (seq + len(payload)) % 2**32
        flow.buffer += payload
        to_client = sport == server_port
        for text in _frames(flow):
            messages.append(Message(at, to_client, dport if to_client else sport, text))
    return messages, sum(f.broken for f in flows.values())


def _frames(flow: _Flow) -> Iterator[bytes]:
    """Complete data frames at the front of the flow's buffer, consumed as they are read.
    The HTTP upgrade (request or response) that opens each direction is dropped first."""
    buffer = flow.buffer
    if buffer[:4] in (b"GET ", b"HTTP"):
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        del buffer[: end + 4]
    while len(buffer) >= 2:
        opcode, size, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
        masked = buffer[1] & 0x80
        if size == 126:
            if len(buffer) < 4:
                return
            size, at = struct.unpack_from("!H", buffer, 2)[0], 4
        elif size == 127:
            if len(buffer) < 10:
                return
            size, at = struct.unpack_from("!Q", buffer, 2)[0], 10
        key = bytes(buffer[at : at + 4]) if masked else b""
        at += len(key)
        if len(buffer) < at + size:
            return
        body = bytes(buffer[at : at + size])
        del buffer[: at + size]
        if key:
            mask = (key * (size // 4 + 1))[:size]
            body = (int.from_bytes(body) ^ int.from_bytes(mask)).to_bytes(size)
        if opcode in (1, 2):
            yield body
