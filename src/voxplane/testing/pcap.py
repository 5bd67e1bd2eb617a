"""tcpdump on loopback, and the IPv4 packets of the pcap files it writes: what the end-to-end
tests and the benchmarks read from the wire (kernel timestamps, not a client's)."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_LINK_HEADER = {1: 14, 113: 16, 276: 20, 101: 0}
"""Bytes before the IP header: Ethernet (``lo``), Linux cooked v1 and v2, raw IP."""


@dataclass
class Capture:
    path: Path
    dropped: int | None = None
    """Packets the kernel dropped (tcpdump's own count), known once the capture ended."""


@contextlib.contextmanager
def capture(path: Path, bpf_filter: str, *, tcpdump: str = "tcpdump") -> Iterator[Capture]:
    """tcpdump on ``lo`` writing ``path`` (nanosecond stamps) while the block runs.

    ``--immediate-mode``: without it libpcap hands packets over a buffer block at a time
    (up to a 1 s timeout), and the block still open when tcpdump is stopped is lost: the
    last half second of a call. Raises :class:`RuntimeError` if tcpdump does not start."""
    command = [
        *(tcpdump, "-i", "lo", "-n", "--immediate-mode", "-U", "-B", "65536"),
        *("--time-stamp-precision=nano", "-w", str(path), bpf_filter),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    seen = b""
    deadline = time.monotonic() + 10
    while b"listening on" not in seen:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=10)
            raise RuntimeError(f"tcpdump did not start: {seen.decode(errors='replace')}")
        time.sleep(0.05)
        seen += process.stderr.read() or b""
    result = Capture(path)
    try:
        yield result
    finally:
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        os.set_blocking(process.stderr.fileno(), True)
        seen += process.stderr.read()
        process.stderr.close()
        for line in seen.decode(errors="replace").splitlines():
            if "dropped by kernel" in line:
                result.dropped = int(line.split()[0])


def ipv4_packets(path: Path) -> Iterator[tuple[float, bytes]]:
    """(capture time in seconds, IPv4 packet) for each IPv4 packet of a little-endian pcap
    file (micro- or nanosecond stamps; Ethernet, Linux cooked or raw link types)."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f"{path}: not a little-endian pcap file")
    scale = 1e-6 if magic == 0xA1B2C3D4 else 1e-9
    link = _LINK_HEADER[linktype]
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, length, _ = struct.unpack_from("<IIII", data, offset)
        packet = data[offset + 16 + link : offset + 16 + length]
        offset += 16 + length
        if len(packet) >= 20 and packet[0] >> 4 == 4:
            yield seconds + fraction * scale, packet
